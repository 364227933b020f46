package sqsqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"bucketdesk/internal/core"
	"bucketdesk/internal/queue/sqsqueue"
	"bucketdesk/internal/queue/sqsqueue/sqstest"
)

// Example wires the queue to the SQS stand-in, as a test of the AWS setup
// would: a dead-letter queue, a job queue whose redrive policy moves a job
// there after three attempts, and the adapter on the SDK client.
func Example() {
	ctx := context.Background()
	srv := sqstest.NewServer(nil)
	defer srv.Close()
	client := srv.Client()

	if _, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("jobs-dlq")}); err != nil {
		panic(err)
	}
	out, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{
		QueueName: aws.String("jobs"),
		Attributes: map[string]string{
			"VisibilityTimeout": "60",
			"RedrivePolicy":     `{"deadLetterTargetArn":"` + srv.QueueARN("jobs-dlq") + `","maxReceiveCount":"3"}`,
		},
	})
	if err != nil {
		panic(err)
	}
	q := sqsqueue.New(client, aws.ToString(out.QueueUrl), nil)

	if err := q.Enqueue(ctx, core.Job{OperationID: "01JOP", Project: "demo", StackName: "bd-demo-bucket-logs"}); err != nil {
		panic(err)
	}
	ds, err := q.Receive(ctx, 10, time.Second)
	if err != nil {
		panic(err)
	}
	for _, d := range ds {
		fmt.Println(d.Job.OperationID, d.Job.StackName, "attempt", d.Attempt)
		if err := q.Ack(ctx, d.Receipt); err != nil {
			panic(err)
		}
	}
	// Output: 01JOP bd-demo-bucket-logs attempt 1
}
