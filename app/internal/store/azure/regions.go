package azure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

// Regions reads audio other regions stored (store.Regions): each region writes only its own
// audio container, and object replication copies it into contract.ReplicaContainer(audio, origin)
// of other regions' accounts, read-only and some time later.
type Regions struct {
	local  *azblob.Client
	audio  string
	others map[string]*azblob.Client // region -> its audio account
	order  []string                  // other regions, sorted
}

// newRegions builds clients of the other regions' accounts: with the token credential in
// Azure, with the connection string's account key for Azurite.
func newRegions(cfg Config, local *azblob.Client, opts *azblob.ClientOptions) (*Regions, error) {
	r := &Regions{local: local, audio: cfg.AudioContainer, others: map[string]*azblob.Client{}}
	for region, endpoint := range cfg.BlobRegions {
		var c *azblob.Client
		var err error
		if cfg.ConnectionString != "" {
			name, key := connValue(cfg.ConnectionString, "AccountName"), connValue(cfg.ConnectionString, "AccountKey")
			cred, cerr := azblob.NewSharedKeyCredential(name, key)
			if cerr != nil {
				return nil, fmt.Errorf("blob region %s: %w", region, cerr)
			}
			c, err = azblob.NewClientWithSharedKeyCredential(endpoint, cred, opts)
		} else {
			c, err = azblob.NewClient(endpoint, cfg.Credential, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("blob region %s: %w", region, err)
		}
		r.others[region] = c
		r.order = append(r.order, region)
	}
	slices.Sort(r.order)
	return r, nil
}

func connValue(cs, key string) string {
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// source is one place a blob of origin may be read from.
type source struct {
	client    *azblob.Client
	container string
	what      string
}

// sources are where origin's audio is, in the order reads try them: this region's replica
// (near, and there once replication caught up), origin's own container (there from the
// start), then the other regions' replicas (while origin's blob store is down).
func (r *Regions) sources(origin string) []source {
	replica := contract.ReplicaContainer(r.audio, origin)
	out := []source{{r.local, replica, "local replica"}}
	if c, ok := r.others[origin]; ok {
		out = append(out, source{c, r.audio, "origin " + origin})
	}
	for _, region := range r.order {
		if region != origin {
			out = append(out, source{r.others[region], replica, "replica in " + region})
		}
	}
	return out
}

// Get implements store.Regions.
func (r *Regions) Get(ctx context.Context, origin, name string) ([]byte, error) {
	var unavailable error
	for _, src := range r.sources(origin) {
		resp, err := src.client.DownloadStream(ctx, src.container, name, nil)
		if err == nil {
			var buf bytes.Buffer
			_, err = io.Copy(&buf, resp.Body)
			resp.Body.Close()
			if err == nil {
				return buf.Bytes(), nil
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("get blob %s of %s: %w", name, origin, classify(ctx.Err()))
		}
		if c := classify(err); !errors.Is(c, store.ErrNotFound) {
			unavailable = fmt.Errorf("%s: %w", src.what, c)
		}
	}
	if unavailable != nil {
		// Not found where it was looked for, and at least one place could not answer: the
		// blob may be there, so this is an outage, not a missing blob.
		return nil, fmt.Errorf("get blob %s of %s: %w", name, origin, unavailable)
	}
	return nil, fmt.Errorf("get blob %s of %s: %w", name, origin, store.ErrNotFound)
}

// Delete implements store.Regions: the blob goes at origin, whose container is the only
// writable copy.
func (r *Regions) Delete(ctx context.Context, origin, name string) error {
	c, ok := r.others[origin]
	if !ok {
		return fmt.Errorf("delete blob %s: no account of region %s configured", name, origin)
	}
	if _, err := c.DeleteBlob(ctx, r.audio, name, nil); err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete blob %s of %s: %w", name, origin, classify(err))
	}
	return nil
}
