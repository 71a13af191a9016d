package azure

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/contract"
)

// InitState creates the stamp's state blob once, when the stamp is created (the workload's
// state-init Job runs `voicemail init-state`). It only needs the blob endpoint (or an Azurite
// connection string) and Storage Blob Data Contributor.
//
// It follows contract.StateBlob's rules: the blob is created with If-None-Match: *, so a blob
// already there is never rewritten, and a marker blob then records that the stamp was
// initialised: a later run (the Job re-created after its TTL removed it and `pulumi refresh`
// forgot it, or replaced by hand) finds the marker and leaves a missing state blob missing,
// because by then its absence is a drain.
func InitState(ctx context.Context, cfg Config) (store.InitOutcome, error) {
	if cfg.StateContainer == "" {
		cfg.StateContainer = contract.StateContainer
	}
	if cfg.StateBlob == "" {
		cfg.StateBlob = "stamp"
	}
	retry := policy.RetryOptions{MaxRetries: 3, RetryDelay: 500 * time.Millisecond, MaxRetryDelay: 5 * time.Second, TryTimeout: 10 * time.Second}
	if cfg.Retry != nil {
		retry = *cfg.Retry
	}
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: retry}}
	var (
		cl  *azblob.Client
		err error
	)
	switch {
	case cfg.ConnectionString != "":
		cl, err = azblob.NewClientFromConnectionString(cfg.ConnectionString, opts)
	case cfg.BlobEndpoint != "" && cfg.Credential != nil:
		cl, err = azblob.NewClient(cfg.BlobEndpoint, cfg.Credential, opts)
	default:
		return "", fmt.Errorf("init state: a blob endpoint and a credential (or a connection string) are required")
	}
	if err != nil {
		return "", fmt.Errorf("blob client: %w", err)
	}
	c := cl.ServiceClient().NewContainerClient(cfg.StateContainer)
	marker := contract.StateBlob{Container: cfg.StateContainer, Name: cfg.StateBlob}.InitMarker()

	done, err := blobExists(ctx, c, marker)
	if err != nil {
		return "", err
	}
	if done {
		return store.InitDone, nil
	}
	out, err := createIfAbsent(ctx, c, cfg.StateBlob, contract.InServiceBody)
	if bloberror.HasCode(err, bloberror.ContainerNotFound) {
		// In Azure the program creates the container; Azurite starts empty.
		if _, cerr := c.Create(ctx, nil); cerr != nil && !bloberror.HasCode(cerr, bloberror.ContainerAlreadyExists) {
			return "", fmt.Errorf("create state container %s: %w", cfg.StateContainer, classify(cerr))
		}
		out, err = createIfAbsent(ctx, c, cfg.StateBlob, contract.InServiceBody)
	}
	if err != nil {
		return "", fmt.Errorf("create state blob %s/%s: %w", cfg.StateContainer, cfg.StateBlob, classify(err))
	}
	if _, err := c.NewBlockBlobClient(marker).UploadBuffer(ctx, []byte(string(out)+"\n"), nil); err != nil {
		return "", fmt.Errorf("write init marker %s/%s: %w", cfg.StateContainer, marker, classify(err))
	}
	return out, nil
}

func blobExists(ctx context.Context, c *container.Client, name string) (bool, error) {
	_, err := c.NewBlobClient(name).GetProperties(ctx, nil)
	switch {
	case err == nil:
		return true, nil
	case bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) || status(err) == 404:
		return false, nil
	}
	return false, fmt.Errorf("get %s: %w", name, classify(err))
}

// createIfAbsent uploads body only if no blob of that name exists (If-None-Match: *).
func createIfAbsent(ctx context.Context, c *container.Client, name string, body []byte) (store.InitOutcome, error) {
	_, err := c.NewBlockBlobClient(name).Upload(ctx, streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}},
	})
	switch {
	case err == nil:
		return store.InitCreated, nil
	case bloberror.HasCode(err, bloberror.BlobAlreadyExists, bloberror.ConditionNotMet) || status(err) == 412:
		return store.InitPresent, nil
	}
	return "", err
}
