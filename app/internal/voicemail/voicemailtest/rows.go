package voicemailtest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/voicemail-platform/voicemail/app/internal/crdt"
	"github.com/voicemail-platform/voicemail/app/internal/store"
	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// newerKey is a key that a hypothetical newer release adds to every row, and inside a value of
// each that this release's rewrite leaves as it was (the mailbox's language, the deposit info).
const newerKey, newerValue = "zz", `{"a":1}`

// RowsStayCompatible checks, on svc's backend, that svc's row writes are compatible across
// releases in a rolling upgrade:
//   - forward: a newer release's key in svc's own mailbox row and message row, at the top
//     level and inside a value svc does not change (the language, the deposit info), survives
//     svc's rewrite of those rows (a settings change, a message marked heard), beside svc's
//     change;
//   - backward: an older release, whose row types lack fields svc knows, still reads the rows
//     svc wrote, and a row without unknown keys is exactly json.Marshal of its type, as before.
//
// Row keys are the service's storage format: "box" and "m:<id>", each suffixed with the region.
func RowsStayCompatible(t *testing.T, svc *voicemail.Service) {
	t.Helper()
	ctx := context.Background()
	meta := svc.Backend().Meta
	const number, plain = "4930777001", "4930777002"
	Provision(t, svc, number, "8264")
	Provision(t, svc, plain, "8264")
	msg := Deposit(t, svc, number, "+4930111", time.Second)
	boxKey, msgKey := store.RowKey("box", svc.Region()), store.RowKey("m:"+msg.ID, svc.Region())
	nestedIn := map[string]string{boxKey: "lang", msgKey: "i"}

	// A newer release writes its key into both rows.
	for key, nested := range nestedIn {
		_, err := meta.Update(ctx, number, key, func(cur []byte) ([]byte, error) {
			var row, inner map[string]json.RawMessage
			if err := json.Unmarshal(cur, &row); err != nil {
				return nil, err
			}
			if err := json.Unmarshal(row[nested], &inner); err != nil {
				return nil, err
			}
			inner[newerKey] = json.RawMessage(newerValue)
			b, err := json.Marshal(inner)
			if err != nil {
				return nil, err
			}
			row[nested], row[newerKey] = b, json.RawMessage(newerValue)
			return json.Marshal(row)
		})
		require.NoError(t, err, key)
	}

	// This release rewrites both rows.
	name, heard := "Renamed", true
	for _, n := range []string{number, plain} {
		_, err := svc.Configure(ctx, n, voicemail.MailboxPatch{DisplayName: &name})
		require.NoError(t, err)
	}
	_, err := svc.UpdateMessage(ctx, number, msg.ID, voicemail.MessageUpdate{Heard: &heard})
	require.NoError(t, err)

	row := func(partition, key string) []byte {
		r, err := meta.Get(ctx, partition, key)
		require.NoError(t, err, key)
		return r.Data
	}
	boxRow, msgRow := row(number, boxKey), row(number, msgKey)
	for key, data := range map[string][]byte{boxKey: boxRow, msgKey: msgRow} {
		var fields, inner map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(data, &fields), key)
		kept, ok := fields[newerKey]
		if assert.True(t, ok, "%s lost the newer release's key %q: %s", key, newerKey, data) {
			assert.JSONEq(t, newerValue, string(kept), key)
		}
		require.NoError(t, json.Unmarshal(fields[nestedIn[key]], &inner), key)
		kept, ok = inner[newerKey]
		if assert.True(t, ok, "%s lost the newer release's key %q in %q: %s", key, newerKey, nestedIn[key], data) {
			assert.JSONEq(t, newerValue, string(kept), key)
		}
	}

	// This release's change is there, and this release's readers see it.
	var box crdt.Mailbox
	require.NoError(t, json.Unmarshal(boxRow, &box))
	assert.Equal(t, "Renamed", box.DisplayName.V)
	var m crdt.Message
	require.NoError(t, json.Unmarshal(msgRow, &m))
	assert.True(t, m.Heard.V)
	require.NotNil(t, m.Info, "the message row keeps its deposit info")
	assert.Equal(t, "+4930111", m.Info.Caller)
	mb, err := svc.Mailbox(ctx, number)
	require.NoError(t, err)
	assert.Equal(t, "Renamed", mb.DisplayName)
	got, err := svc.Message(ctx, number, msg.ID)
	require.NoError(t, err)
	assert.True(t, got.Heard)

	// An older release's types know fewer fields; they still read what this release wrote.
	var older struct {
		Provisioned crdt.Timestamp                   `json:"prov"`
		DisplayName crdt.Register[string]            `json:"dn"`
		PINHash     crdt.Register[string]            `json:"pin"`
		Greetings   map[string]crdt.Register[string] `json:"gr,omitempty"`
	}
	require.NoError(t, json.Unmarshal(boxRow, &older))
	assert.Equal(t, box.Provisioned, older.Provisioned)
	assert.Equal(t, box.DisplayName, older.DisplayName)
	assert.Equal(t, box.PINHash, older.PINHash)
	var olderMsg struct {
		Heard crdt.Register[bool] `json:"h"`
	}
	require.NoError(t, json.Unmarshal(msgRow, &olderMsg))
	assert.Equal(t, m.Heard, olderMsg.Heard)

	// A row without unknown keys is encoded exactly as its type encodes.
	plainRow := row(plain, boxKey)
	var plainBox crdt.Mailbox
	require.NoError(t, json.Unmarshal(plainRow, &plainBox))
	want, err := json.Marshal(plainBox)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(plainRow))
}
