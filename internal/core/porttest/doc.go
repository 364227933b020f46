// Package porttest holds one conformance suite per port of package core
// (ResourceStore, ProjectStore, ConnectionStore, TicketStore, ShareLinkStore, Queue,
// Cloud, Hub, …). Every adapter's TestConformance runs the suite of each
// port it implements (a cache adapter runs every store suite), so the
// local adapters and the AWS ones are held to the same contract; the
// suites are the executable form of the comments in core/ports.go.
//
// The suites use only the port itself and the standard testing package,
// so an adapter tested against a local stand-in (dynalite for DynamoDB,
// an httptest server for the others) runs them unchanged.
package porttest
