// Command bucketdesk-lambda is the bootstrap of every bucketdesk function
// on AWS Lambda (the provided.al2023 runtime runs it without arguments):
// it reads the configuration from the environment, wires the AWS adapters
// (internal/setup/awssetup) and hands the role's handler, chosen by
// BUCKETDESK_ROLE, to the Lambda runtime. It carries only what runs on
// Lambda: none of the local binary's sandbox, bbolt or web UI.
// `make package` builds it as bin/lambda/bootstrap.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"bucketdesk/internal/setup/awssetup"
)

// version is set at build time (make package: -X main.version=…).
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run configures and starts the function; it returns only when it cannot.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("bucketdesk-lambda", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: bootstrap\n\nRuns one bucketdesk function inside AWS Lambda (the bootstrap of provided.al2023).\nIt is configured by the environment:\n\n")
		for _, v := range awssetup.AWSEnv {
			need := "optional"
			if v.Required {
				need = "required"
			}
			if v.Roles != nil {
				need += " for " + strings.Join(v.Roles, ", ")
			}
			fmt.Fprintf(stderr, "  %s (%s)\n      %s\n", v.Name, need, v.Doc)
		}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	cfg, err := awssetup.LoadAWSConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk-lambda: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("role", cfg.Role, "version", version)
	base, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		log.Error("AWS configuration", "err", err)
		return 1
	}
	a, err := awssetup.OpenAWS(cfg, awssetup.NewAWSClients(cfg, base), log)
	if err != nil {
		log.Error("wiring", "err", err)
		return 1
	}
	h, err := a.Handler()
	if err != nil {
		log.Error("handler", "err", err)
		return 1
	}
	lambda.StartWithOptions(h, lambda.WithContext(ctx))
	return 0
}
