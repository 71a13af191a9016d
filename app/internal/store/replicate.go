package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Replicate copies one region's writes from one store to another, the way Cosmos DB
// multi-region writes and Blob object replication do in Azure; the local multi-region runner
// calls it. It copies the audio and greeting blobs the destination lacks first, so no copied row
// references missing audio, then the region's rows with Version > since. It returns the cursor
// for the next call (the highest version copied, or since). Import keeps the higher version, so
// repeating or reordering calls is harmless; callers may pass an earlier cursor to be safe
// against clock skew between writers.
func Replicate(ctx context.Context, from, to *Backend, region string, since int64) (int64, error) {
	for _, prefix := range []string{"audio/", "greetings/"} {
		src, err := from.Blobs.List(ctx, prefix)
		if err != nil {
			return since, fmt.Errorf("replicate: list source blobs: %w", err)
		}
		dst, err := to.Blobs.List(ctx, prefix)
		if err != nil {
			return since, fmt.Errorf("replicate: list destination blobs: %w", err)
		}
		for _, name := range src {
			if _, ok := slices.BinarySearch(dst, name); ok {
				continue
			}
			data, err := from.Blobs.Get(ctx, name)
			if err != nil {
				if errors.Is(err, ErrNotFound) {
					continue // deleted meanwhile
				}
				return since, fmt.Errorf("replicate: read blob %s: %w", name, err)
			}
			if err := to.Blobs.Put(ctx, name, data); err != nil {
				return since, fmt.Errorf("replicate: write blob %s: %w", name, err)
			}
		}
	}
	rows, err := from.Meta.Export(ctx, region, since)
	if err != nil {
		return since, fmt.Errorf("replicate: export: %w", err)
	}
	if _, err := to.Meta.Import(ctx, rows); err != nil {
		return since, fmt.Errorf("replicate: import: %w", err)
	}
	cursor := since
	for _, r := range rows {
		cursor = max(cursor, r.Version)
	}
	return cursor, nil
}
