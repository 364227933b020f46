// Package simcloud is the sandbox: an in-process simulation of
// CloudFormation (and of the one Secrets Manager read bucketdesk needs) for
// exactly the resource types of bucketdesk's templates (docs/templates.md).
// It implements core.Cloud.
//
// Stacks live per account. CreateStack, UpdateStack and DeleteStack answer
// at once and the operation runs in the background, one resource at a time
// in dependency order, emitting the stack and resource events
// CloudFormation emits (including rollbacks and cleanup phases), each with
// the operation's ClientRequestToken. Events are delivered to subscribers
// as genuine CloudFormation SNS notifications rendered by package cfnevent,
// at least once, optionally with seeded chaos (duplicates, reordering,
// drops, delays). Realistic failures are simulated: a bucket name taken in
// any account, invalid or unsupported properties, a non-empty bucket that
// cannot be deleted, updates of a stack in progress or without changes,
// missing IAM capabilities, an API rate limit per account.
//
// State (stacks, resources, templates, tokens, secrets sealed with AES-GCM,
// in-flight operations and undelivered notifications) persists in a bbolt
// file; an operation interrupted by Close resumes from its last step when
// the file is opened again. A deleted stack stays describable by its id,
// with its template and events, for Options.Retention (90 days, as in
// CloudFormation) and is then forgotten, so the file and the memory stay
// bounded under churn. Time comes from an injected core.Clock, so tests
// drive it with a manual clock and zero durations.
//
// The sandbox is for local runs, demos, benchmarks and tests. It is not an
// emulator of AWS: it models no other resource types or properties, no
// change sets, stack policies, drift, nested stacks or parameters without
// defaults, no IAM permission checks and no service quotas but IAM's two
// access keys per user. A bucket holds object versions and delete markers
// (objects.go: keys, version ids and sizes, not content) under S3's
// versioning rules, so that only an empty bucket is deleted.
// docs/sandbox-fidelity.md lists the AWS rules it does enforce.
package simcloud
