package runner

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// ReplicaGuard stands in front of a region's Azurite blob service and refuses writes to
// replica containers (<audio>-<origin>), as Azure refuses writes to an object replication
// destination: 409 Conflict. Only the replicator, which plays Azure's replication and talks
// to Azurite directly, writes there. Stamps reach their region's blobs, and other regions'
// audio, through guards, so a stamp that wrote into a replica would fail here as in Azure.
type ReplicaGuard struct {
	ln     net.Listener
	srv    *http.Server
	prefix string // replica containers start with it ("audio-")
}

// ReplicaWriteErrorCode is the x-ms-error-code a refused write carries.
const ReplicaWriteErrorCode = "ObjectReplicationDestinationIsReadOnly"

// NewReplicaGuard proxies to upstream (host:port of Azurite's blob service).
func NewReplicaGuard(upstream, audioContainer string) (*ReplicaGuard, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &ReplicaGuard{ln: ln, prefix: audioContainer + "-"}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: upstream})
	g.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.refused(r) {
			w.Header().Set("x-ms-error-code", ReplicaWriteErrorCode)
			w.WriteHeader(http.StatusConflict)
			fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>replica containers are object replication destinations and read-only</Message></Error>", ReplicaWriteErrorCode)
			return
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// refused reports a write to a blob of a replica container (path /<account>/<container>/<blob>).
func (g *ReplicaGuard) refused(r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return false
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	return len(parts) == 3 && strings.HasPrefix(parts[1], g.prefix) && parts[2] != ""
}

// Addr is the guard's listen address.
func (g *ReplicaGuard) Addr() string { return g.ln.Addr().String() }

// Close stops the guard.
func (g *ReplicaGuard) Close() { _ = g.srv.Close() }
