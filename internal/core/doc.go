// Package core owns bucketdesk's nouns and contracts: the domain types
// (projects, buckets, users, the cached resource and its operation), their
// validation, the phase derived from a CloudFormation stack status, the
// closed set of error kinds, the pure rules by which stack events change a
// cached resource, and the ports (Store, Queue, Cloud, Hub, Clock) that
// adapters implement.
//
// core imports no adapter and performs no I/O.
package core
