// Command bucketdesk-soak measures bucketdesk under churn: it starts a real
// `bucketdesk serve` on a loopback port, deletes and creates bucket names
// again and again for a bounded time, and prints a Markdown report of the
// operations' outcomes, the cache against the sandbox CloudFormation, and
// the growth of the data directory and of the server's memory. See
// `bucketdesk-soak --help` and `make soak`.
package main

import (
	"os"

	"bucketdesk/internal/soak"
)

func main() {
	os.Exit(soak.Main(os.Args[1:], os.Stdout, os.Stderr))
}
