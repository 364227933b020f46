module bucketdesk

go 1.26
