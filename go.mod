module bucketdesk

go 1.26

require (
	github.com/oklog/ulid/v2 v2.1.1
	go.etcd.io/bbolt v1.4.3
	golang.org/x/time v0.14.0
)

require golang.org/x/sys v0.29.0 // indirect
