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

	"bucketdesk/internal/setup"
)

// runLambda is the bootstrap of every bucketdesk function on AWS: it reads
// the configuration from the environment, wires the adapters and hands the
// role's handler to the Lambda runtime.
func runLambda(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("lambda", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: bucketdesk lambda\n\nRuns one bucketdesk function inside AWS Lambda (the bootstrap of provided.al2023).\nIt is configured by the environment:\n\n")
		for _, v := range setup.AWSEnv {
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
		return exitCode(err)
	}
	cfg, err := setup.LoadAWSConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "bucketdesk lambda: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel})).With("role", cfg.Role)
	base, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.Region))
	if err != nil {
		log.Error("AWS configuration", "err", err)
		return 1
	}
	a, err := setup.OpenAWS(cfg, setup.NewAWSClients(cfg, base), log)
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
