package awssetup_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"

	"bucketdesk/internal/hub/apigwhub"
	"bucketdesk/internal/setup/awssetup"
)

// The @connections client keeps as many connections open as a publish
// has posts in flight, so that the next publish reuses them.
func TestManagementClientKeepsAPublishsConnections(t *testing.T) {
	base := aws.Config{Region: "eu-west-1", HTTPClient: awshttp.NewBuildableClient()}
	c := awssetup.NewAWSClients(awssetup.AWSConfig{WSEndpoint: "https://abc.execute-api.eu-west-1.amazonaws.com/prod"}, base)
	b, ok := c.Management.Options().HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		t.Fatalf("management HTTP client is %T", c.Management.Options().HTTPClient)
	}
	if tr := b.GetTransport(); tr.MaxIdleConnsPerHost < apigwhub.DefaultConcurrency || tr.MaxIdleConns < apigwhub.DefaultConcurrency {
		t.Errorf("idle connections kept: %d per host, %d in all; want at least %d", tr.MaxIdleConnsPerHost, tr.MaxIdleConns, apigwhub.DefaultConcurrency)
	}
	// The hub retries a post itself; the SDK's attempts would multiply its own.
	if n := c.Management.Options().RetryMaxAttempts; n != 1 {
		t.Errorf("management client makes %d attempts per post, want 1 (the hub retries)", n)
	}
	// The other clients keep the SDK's defaults.
	if tr := c.DynamoDB.Options().HTTPClient.(*awshttp.BuildableClient).GetTransport(); tr.MaxIdleConnsPerHost >= apigwhub.DefaultConcurrency {
		t.Errorf("DynamoDB client changed too: %d", tr.MaxIdleConnsPerHost)
	}
}
