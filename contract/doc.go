// Package contract is the agreement between the Pulumi program and the binaries it deploys:
// the stamp binary's configuration (every environment variable with its default, read by
// LoadStamp and written by Stamp.Environ), the management service's configuration
// (LoadManager, Manager.Environ), the health paths the probes use, the Kubernetes and storage
// names both sides must spell the same, and the rules of a stamp's state blob.
//
// Both sides import it and nothing else of each other: the program (internal/stack, regional,
// app/deploy) renders configuration with Environ and names resources with the constants here;
// the binaries parse it with Load. A name or default is written once, here.
package contract
