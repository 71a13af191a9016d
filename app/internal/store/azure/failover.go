package azure

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// failbackAfter is how long an endpoint that failed is passed over before it is tried again:
// long enough not to pay a failing endpoint's latency on every request, short enough that a
// stamp returns to its own region's endpoint soon after it recovers.
const failbackAfter = 10 * time.Second

// failover is the Table client's transport when the account has endpoints in several regions
// (Cosmos DB for Table with multi-region writes): each request goes to the first endpoint in
// order (this region's first) that has not failed within failbackAfter; when it fails at the
// transport or answers 500, 502, 503 or 504, the same request goes to the next endpoint. The
// endpoints differ only in scheme and host: paths, table names and tokens are the account's.
type failover struct {
	endpoints []*url.URL
	next      policy.Transporter
	now       func() time.Time
	log       *slog.Logger

	mu   sync.Mutex
	down []time.Time // until when each endpoint is passed over
}

func newFailover(primary string, fallbacks []string, next policy.Transporter, log *slog.Logger) (*failover, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &failover{next: next, now: time.Now, log: log}
	if f.next == nil {
		f.next = http.DefaultClient
	}
	for _, e := range append([]string{primary}, fallbacks...) {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("table endpoint %q is not a URL", e)
		}
		f.endpoints = append(f.endpoints, u)
	}
	f.down = make([]time.Time, len(f.endpoints))
	return f, nil
}

// order is the endpoints to try now: those not passed over, in order, then the others.
func (f *failover) order() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	var up, down []int
	for i := range f.endpoints {
		if now.Before(f.down[i]) {
			down = append(down, i)
		} else {
			up = append(up, i)
		}
	}
	return append(up, down...)
}

// mark records the outcome of a request to endpoint i, and logs when an endpoint starts being
// passed over and when it answers again (home: the stamp's own region's endpoint), so operators
// see a stamp working across regions and tests see it come back.
func (f *failover) mark(i int, failed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	switch {
	case failed && !now.Before(f.down[i]):
		f.log.Warn(EndpointPassedOver, "endpoint", f.endpoints[i].Host, "home", i == 0, "for", failbackAfter.String())
	case !failed && !f.down[i].IsZero():
		f.log.Info(EndpointBack, "endpoint", f.endpoints[i].Host, "home", i == 0)
	}
	if failed {
		f.down[i] = now.Add(failbackAfter)
	} else {
		f.down[i] = time.Time{}
	}
}

// Log messages of the Table endpoint failover.
const (
	EndpointPassedOver = "table endpoint passed over"
	EndpointBack       = "table endpoint answers again"
)

// Do implements policy.Transporter.
func (f *failover) Do(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	var err error
	for n, i := range f.order() {
		if n > 0 {
			if req.Context().Err() != nil {
				break // the caller gave up: no time left for another region
			}
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					break // a body that cannot be sent twice
				}
				body, gerr := req.GetBody()
				if gerr != nil {
					break
				}
				req.Body = body
			}
		}
		resp, err = f.next.Do(f.to(req, i))
		failed := err != nil || unavailable(resp.StatusCode)
		f.mark(i, failed)
		if !failed {
			return resp, nil
		}
		if n < len(f.endpoints)-1 && resp != nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	return resp, err
}

// to is req sent to endpoint i: the request URL's scheme and host replaced. The endpoints of
// one account share their path prefix (an Azurite endpoint's account name included).
func (f *failover) to(req *http.Request, i int) *http.Request {
	ep := f.endpoints[i]
	if req.URL.Scheme == ep.Scheme && req.URL.Host == ep.Host {
		return req
	}
	r := req.Clone(req.Context())
	r.Body = req.Body
	r.URL.Scheme, r.URL.Host, r.Host = ep.Scheme, ep.Host, ""
	return r
}

func unavailable(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// tableEndpoint is the Table endpoint a connection string names (Azurite), for failover.
func tableEndpoint(connectionString string) (string, error) {
	for _, kv := range strings.Split(connectionString, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(strings.TrimSpace(k), "TableEndpoint") {
			return strings.TrimSpace(v), nil
		}
	}
	return "", errors.New("azure store: table fallback endpoints need a TableEndpoint in the connection string")
}
