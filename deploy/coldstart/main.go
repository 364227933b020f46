// Command coldstart measures the cold start of the Lambda bootstrap (cmd/bucketdesk-lambda) on this
// machine: it plays a minimal Lambda Runtime API, starts the bootstrap
// binary (role api) as Lambda would, serves it one API Gateway HTTP event
// (GET /healthz) and times process start → answer, 20 times.
//
//	go run ./deploy/coldstart bin/bootstrap-local
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"time"
)

const event = `{"version":"2.0","routeKey":"$default","rawPath":"/healthz","rawQueryString":"","headers":{"host":"api.example.com"},"requestContext":{"http":{"method":"GET","path":"/healthz","protocol":"HTTP/1.1","sourceIp":"203.0.113.7"},"requestId":"r1","routeKey":"$default","stage":"$default"},"isBase64Encoded":false}`

func once(bin string) (time.Duration, string) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan string, 1)
	served := false
	mux := http.NewServeMux()
	mux.HandleFunc("/2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if served {
			<-r.Context().Done()
			return
		}
		served = true
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
		w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(time.Minute).UnixMilli()))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:111122223333:function:bucketdesk-api")
		io.WriteString(w, event)
	})
	mux.HandleFunc("/2018-06-01/runtime/invocation/req-1/response", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(202)
		done <- string(b)
	})
	mux.HandleFunc("/2018-06-01/runtime/invocation/req-1/error", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(202)
		done <- "ERROR " + string(b)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String(), "BUCKETDESK_ROLE=api", "AWS_REGION=eu-west-1",
		"BUCKETDESK_TABLE=bucketdesk", "BUCKETDESK_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/111122223333/ops",
		"BUCKETDESK_WS_ENDPOINT=https://abc.execute-api.eu-west-1.amazonaws.com/ws", "BUCKETDESK_COGNITO_USER_POOL_ID=eu-west-1_Test",
		"BUCKETDESK_COGNITO_CLIENT_ID=client", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_LAMBDA_FUNCTION_NAME=bucketdesk-api",
		"AWS_LAMBDA_FUNCTION_VERSION=1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_EC2_METADATA_DISABLED=true")
	cmd.Stderr = io.Discard
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	out := <-done
	d := time.Since(t0)
	cmd.Process.Kill()
	cmd.Wait()
	return d, out
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: coldstart <bootstrap binary for this machine>")
		os.Exit(2)
	}
	var ds []time.Duration
	var out string
	for range 20 {
		d, o := once(os.Args[1])
		ds = append(ds, d)
		out = o
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	fmt.Printf("response: %.120s\n", out)
	fmt.Printf("cold start (process start → first event answered), 20 runs: min %v, median %v, max %v\n", ds[0], ds[len(ds)/2], ds[len(ds)-1])
}
