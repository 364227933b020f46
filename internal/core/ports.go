package core

import (
	"context"
	"time"
)

// ResourceStore is the cache's resource items and the history of their
// operations.
//
// Every state change of a resource is one conditional write on one item
// (PutResource), so that an adapter without multi-item transactions
// (DynamoDB's local stand-in) can keep every rule. Adapters do not retry;
// they return ErrNotFound, ErrConflict or a wrapped transient error
// (ErrUnavailable, ErrThrottled) that the caller classifies.
type ResourceStore interface {
	// GetResource returns ErrNotFound when the item does not exist. A
	// deleted resource may still exist as a tombstone with PhaseDeleted.
	GetResource(ctx context.Context, key ResourceKey) (*Resource, error)
	// PutResource writes r atomically if the stored item's version equals
	// prev, where prev 0 means the item must not exist. r.Version must be
	// greater than prev. A failed condition returns ErrConflict and
	// changes nothing.
	PutResource(ctx context.Context, r *Resource, prev int64) error
	// DeleteResource removes the item if its version equals prev; it
	// returns ErrConflict otherwise and nil when it is already gone.
	DeleteResource(ctx context.Context, key ResourceKey, prev int64) error
	// ListResources returns a project's items ordered by stack name, at
	// most page.Limit of them (0: all), and the cursor of the next page
	// ("" at the end). Tombstones are included; callers filter.
	ListResources(ctx context.Context, project string, page Page) ([]*Resource, string, error)
	// ListVersions returns the stack name and version of every item of a
	// project (tombstones included), ordered by stack name, without
	// reading whole items: what a list cache compares with what it last
	// encoded, so that an unchanged LIST costs no decoding.
	ListVersions(ctx context.Context, project string) ([]ItemVersion, error)

	// PutOperation writes a history copy of op. It is idempotent and
	// monotonic: a stored copy with a higher Rev is kept and nil returned.
	PutOperation(ctx context.Context, op *Operation) error
	// GetOperation returns ErrNotFound for an unknown id.
	GetOperation(ctx context.Context, id string) (*Operation, error)
	// ListOperations returns a project's operations newest first (by id,
	// which is a ULID), paged like ListResources.
	ListOperations(ctx context.Context, project string, page Page) ([]*Operation, string, error)
	// PurgeOperations deletes the history copies of a project's operations
	// that were requested before before (the millisecond time of their
	// ULID id) and have ended (succeeded or failed), oldest first, at most
	// limit of them (0: no limit), and returns how many it deleted. An
	// operation that has not ended is kept however old, and so is one
	// whose id is not a canonical ULID (it has no time). Only history
	// copies go: a resource item's Op is left alone. It is idempotent: the
	// same call again deletes nothing more. A PutOperation of a purged id,
	// concurrent or later, writes the copy again. After an error the count
	// is of the copies deleted before it; a negative limit is ErrInvalid.
	PurgeOperations(ctx context.Context, project string, before time.Time, limit int) (int, error)
}

// ProjectStore is the cache's project registrations. Adapters do not
// retry: a transient failure is a wrapped ErrUnavailable or ErrThrottled
// that the caller classifies.
type ProjectStore interface {
	// PutProject creates or replaces a project registration.
	PutProject(ctx context.Context, p *Project) error
	// GetProject returns ErrNotFound for an unknown id.
	GetProject(ctx context.Context, id string) (*Project, error)
	// ListProjects returns every project, ordered by id.
	ListProjects(ctx context.Context) ([]*Project, error)
}

// ConnectionStore is the registry of live WebSocket connections by
// project, through which a hub that does not hold the connections itself
// (API Gateway's) finds a project's subscribers. Adapters do not retry: a
// transient failure is a wrapped ErrUnavailable or ErrThrottled that the
// caller classifies.
type ConnectionStore interface {
	// PutConnection registers a WebSocket connection under each of its
	// projects, replacing an earlier registration of the same id.
	PutConnection(ctx context.Context, c *Connection) error
	// DeleteConnection removes a connection; an unknown id is not an error.
	DeleteConnection(ctx context.Context, id string) error
	// ListConnections returns the project's connections that have not
	// expired at now, without scanning other projects' connections.
	ListConnections(ctx context.Context, project string, now time.Time) ([]*Connection, error)
}

// TicketStore keeps the single-use tickets with which a WebSocket is
// opened. Adapters do not retry: a transient failure is a wrapped
// ErrUnavailable or ErrThrottled that the caller classifies.
type TicketStore interface {
	// PutTicket stores a WebSocket ticket under the hash of its secret.
	PutTicket(ctx context.Context, t *Ticket) error
	// TakeTicket atomically returns and removes the ticket with this hash.
	// A missing, already taken or expired (at now) ticket is ErrNotFound.
	TakeTicket(ctx context.Context, hash string, now time.Time) (*Ticket, error)
}

// ItemVersion names one resource item at one version.
type ItemVersion struct {
	StackName string
	Version   int64
}

// Page selects one page of a listing.
type Page struct {
	Limit  int
	Cursor string
}

// Connection is a WebSocket connection registered for live updates.
type Connection struct {
	ID          string    `json:"id"`
	User        string    `json:"user"`
	Projects    []string  `json:"projects"`
	ConnectedAt time.Time `json:"connected_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// Ticket is a single-use credential to open a WebSocket. Only the hash of
// its secret value is stored.
type Ticket struct {
	Hash      string    `json:"hash"`
	User      string    `json:"user"`
	Projects  []string  `json:"projects"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Job asks a worker to carry out one operation.
type Job struct {
	OperationID string `json:"operation_id"`
	Project     string `json:"project"`
	StackName   string `json:"stack_name"`
}

// Delivery is one receipt of a job.
type Delivery struct {
	Job Job
	// Receipt identifies this delivery for Ack and Retry.
	Receipt string
	// Attempt counts deliveries of this job, starting at 1.
	Attempt int
}

// Queue is a durable, at-least-once job queue. A received job is invisible
// to other receivers for the visibility timeout and is delivered again
// unless acknowledged; after the queue's maximum number of attempts it is
// moved to a dead-letter queue instead. Jobs may be delivered more than
// once and out of order: workers are idempotent.
type Queue interface {
	// Enqueue stores the job durably before it returns nil.
	Enqueue(ctx context.Context, job Job) error
	// Receive returns up to max deliveries, waiting up to wait for the
	// first one; it returns an empty slice, not an error, when none came.
	Receive(ctx context.Context, max int, wait time.Duration) ([]Delivery, error)
	// Ack removes a delivered job. A receipt that no longer holds the job
	// (its visibility expired and it was received again) is ErrNotFound.
	Ack(ctx context.Context, receipt string) error
	// Retry makes a delivered job visible again after delay.
	Retry(ctx context.Context, receipt string, delay time.Duration) error
}

// Account is an AWS account in which a project's stacks live, and how to
// reach it.
type Account struct {
	ID         string `json:"id"`
	Region     string `json:"region"`
	RoleARN    string `json:"role_arn,omitempty"`
	ExternalID string `json:"external_id,omitempty"`
}

// StackRequest asks for a stack to be created or updated.
type StackRequest struct {
	StackName string
	// Template is a CloudFormation template body in JSON.
	Template string
	Tags     map[string]string
	// Token is the ClientRequestToken: the operation id.
	Token            string
	NotificationARNs []string
	// Capabilities acknowledges IAM resources (CAPABILITY_NAMED_IAM).
	Capabilities []string
}

// Stack is what DescribeStacks tells of one stack.
type Stack struct {
	StackID         string            `json:"stack_id"`
	StackName       string            `json:"stack_name"`
	Status          string            `json:"status"`
	StatusReason    string            `json:"status_reason,omitempty"`
	Outputs         map[string]string `json:"outputs,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
	CreationTime    time.Time         `json:"creation_time"`
	LastUpdatedTime time.Time         `json:"last_updated_time,omitzero"`
}

// StackSummary is one row of ListStacks.
type StackSummary struct {
	StackID   string `json:"stack_id"`
	StackName string `json:"stack_name"`
	Status    string `json:"status"`
}

// Cloud is CloudFormation (and the one Secrets Manager read) in project
// accounts. Adapters do not retry; they map errors onto kinds:
//
//   - A stack name is reused, a stack id is not. UpdateStack and DeleteStack
//     take a stack name or a stack id (StackRequest.StackName may be
//     either); by id they act on that stack only, never on a newer stack
//     that has its name: an update of a deleted stack's id is ErrNotFound,
//     a delete of it is success without effect.
//   - CreateStack: an existing stack is ErrConflict, unless it was created
//     with the same token, which is success (a retry).
//   - UpdateStack: "No updates are to be performed" is ErrNoChange; a stack
//     in progress is ErrConflict (unless the operation in progress has the
//     same token: success); a missing stack is ErrNotFound.
//   - DeleteStack: a missing stack is success; the same token is success.
//   - DescribeStack and GetTemplate: a missing stack is ErrNotFound; they
//     accept a stack name or a stack id, and a stack id also finds a
//     deleted stack (status DELETE_COMPLETE).
//   - An invalid template is ErrInvalid; a rate limit is ErrThrottled; a
//     transient failure is ErrUnavailable.
type Cloud interface {
	CreateStack(ctx context.Context, a Account, req StackRequest) (stackID string, err error)
	UpdateStack(ctx context.Context, a Account, req StackRequest) (stackID string, err error)
	DeleteStack(ctx context.Context, a Account, stackName, token string) error
	DescribeStack(ctx context.Context, a Account, stack string) (*Stack, error)
	// ListStacks returns the stacks whose name starts with prefix and that
	// are not DELETE_COMPLETE.
	ListStacks(ctx context.Context, a Account, prefix string) ([]StackSummary, error)
	// GetTemplate returns the template body of the stack's current
	// template.
	GetTemplate(ctx context.Context, a Account, stack string) (string, error)
	// GetSecretValue reads a Secrets Manager secret created by a stack.
	// The value must never be logged or cached.
	GetSecretValue(ctx context.Context, a Account, secretARN string) (string, error)
}

// MessageType is the type of a real-time message.
type MessageType string

// Message types of the real-time protocol.
const (
	MsgResource        MessageType = "resource"
	MsgResourceDeleted MessageType = "resource_deleted"
	MsgOperation       MessageType = "operation"
	MsgEvent           MessageType = "event"

	// MsgAudit carries a new audit record of the project (Message.Audit,
	// no resource version); clients that do not know it ignore it.
	MsgAudit MessageType = "audit"
)

// Message is one real-time notification to a project's subscribers. Every
// message carries the resource version it reflects, so that a client drops
// what is older than what it shows.
type Message struct {
	Type      MessageType `json:"type"`
	Project   string      `json:"project"`
	Kind      Kind        `json:"kind"`
	Name      string      `json:"name"`
	Version   int64       `json:"version"`
	Resource  *Resource   `json:"resource,omitempty"`
	Operation *Operation  `json:"operation,omitempty"`
	Event     *StackEvent `json:"event,omitempty"`

	// Audit is the record of an MsgAudit message.
	Audit *AuditRecord `json:"audit,omitempty"`
}

// Hub pushes messages to every live subscriber (a client's connection) of
// a project. Each subscriber receives each message of its projects once,
// in the order of the Publish calls. Publish is best effort: a connection
// that went away is removed, and only it; a subscriber that cannot keep up
// never holds up the others, and a hub that gives up on one drops it, so
// that its client reconnects and resyncs; so does a delivery that fails
// for good (a post to API Gateway, after its retries: the hub closes that
// connection). How a message becomes a frame, and what a message over the frame
// limit becomes, is the real-time protocol's (internal/realtime).
// porttest.RunHubTests is the executable form of this contract.
type Hub interface {
	Publish(ctx context.Context, project string, msg Message) error
}

// Clock tells the time and waits. Tests use a manual clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }

// After waits for d on the real clock.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
