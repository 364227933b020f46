// Package core owns bucketdesk's nouns and contracts: the domain types
// (projects, buckets, users, the cached resource and its operation), their
// validation, the phase derived from a CloudFormation stack status, the
// closed set of error kinds, the pure rules by which stack events change a
// cached resource, and the ports (ResourceStore, ProjectStore,
// ConnectionStore, TicketStore, AuditStore, Queue, Cloud, Hub, Clock) that
// adapters implement.
//
// The cache is one port per kind of data, so that each consumer depends on
// exactly the data it reads and writes: the engine on ResourceStore and
// ProjectStore, ticket redemption on TicketStore, API Gateway's hub on
// ConnectionStore, the audit trail on AuditStore. A cache adapter (boltstore, dynamostore) implements
// every one of them over one file or table, and porttest holds one
// conformance suite per port. New data comes as a port of its own, with
// its own suite, not as methods on an existing one.
//
// core imports no adapter and performs no I/O.
package core
