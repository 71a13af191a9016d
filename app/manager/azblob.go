package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Container holds the region's stamp state blobs and the manager's own state, in the
// regional storage account's state container. It implements Blobs and Store.
type Container struct {
	c         *container.Client
	stateName string
}

// NewContainerFromURL uses a token credential (managed identity on Functions, workload
// identity in AKS): containerURL is https://<account>.blob.core.windows.net/<container>.
func NewContainerFromURL(containerURL string, cred azcore.TokenCredential, stateName string) (*Container, error) {
	c, err := container.NewClient(containerURL, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("state container %s: %w", containerURL, err)
	}
	return &Container{c: c, stateName: stateName}, nil
}

// NewContainerFromConnectionString is for Azurite only; Azure accounts have shared keys off.
func NewContainerFromConnectionString(conn, containerName, stateName string) (*Container, error) {
	c, err := container.NewClientFromConnectionString(conn, containerName, nil)
	if err != nil {
		return nil, fmt.Errorf("state container %s: %w", containerName, err)
	}
	return &Container{c: c, stateName: stateName}, nil
}

// EnsureContainer creates the container when missing (Azurite; in Azure the program creates it).
func (c *Container) EnsureContainer(ctx context.Context) error {
	_, err := c.c.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("create state container: %w", err)
	}
	return nil
}

func (c *Container) blob(name string) *blockblob.Client { return c.c.NewBlockBlobClient(name) }

// Exists reports whether the blob is there.
func (c *Container) Exists(ctx context.Context, name string) (bool, error) {
	_, err := c.blob(name).GetProperties(ctx, nil)
	switch {
	case err == nil:
		return true, nil
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound):
		return false, nil
	default:
		return false, fmt.Errorf("get %s: %w", name, err)
	}
}

// Put writes the blob, replacing it.
func (c *Container) Put(ctx context.Context, name string, body []byte) error {
	_, err := c.blob(name).UploadBuffer(ctx, body, &blockblob.UploadBufferOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}

// Delete removes the blob and its snapshots; a missing blob is fine.
func (c *Container) Delete(ctx context.Context, name string) error {
	_, err := c.blob(name).Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)})
	if err != nil && !bloberror.HasCode(err, bloberror.BlobNotFound) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// Load reads the manager's state; a missing blob is an empty state with version "".
func (c *Container) Load(ctx context.Context) (State, string, error) {
	resp, err := c.blob(c.stateName).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound) {
		return State{Stamps: map[string]*StampState{}}, "", nil
	}
	if err != nil {
		return State{}, "", fmt.Errorf("read %s: %w", c.stateName, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return State{}, "", fmt.Errorf("read %s: %w", c.stateName, err)
	}
	var st State
	if err := json.Unmarshal(raw, &st); err != nil {
		return State{}, "", fmt.Errorf("decode %s: %w", c.stateName, err)
	}
	if st.Stamps == nil {
		st.Stamps = map[string]*StampState{}
	}
	ver := ""
	if resp.ETag != nil {
		ver = string(*resp.ETag)
	}
	return st, ver, nil
}

// Save writes the state if nobody saved since the Load that returned version.
func (c *Container) Save(ctx context.Context, st State, version string) (string, error) {
	raw, err := json.MarshalIndent(st, "", " ")
	if err != nil {
		return "", fmt.Errorf("encode manager state: %w", err)
	}
	cond := &blob.ModifiedAccessConditions{}
	if version == "" {
		cond.IfNoneMatch = to.Ptr(azcore.ETagAny)
	} else {
		cond.IfMatch = to.Ptr(azcore.ETag(version))
	}
	resp, err := c.blob(c.stateName).Upload(ctx, nopCloser{bytes.NewReader(raw)}, &blockblob.UploadOptions{
		HTTPHeaders:      &blob.HTTPHeaders{BlobContentType: to.Ptr("application/json")},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) {
		return "", fmt.Errorf("%s: %w", c.stateName, ErrConflict)
	}
	if err != nil {
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == 412 {
			return "", fmt.Errorf("%s: %w", c.stateName, ErrConflict)
		}
		return "", fmt.Errorf("write %s: %w", c.stateName, err)
	}
	if resp.ETag == nil {
		return "", nil
	}
	return string(*resp.ETag), nil
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
