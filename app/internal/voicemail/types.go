// Package voicemail is the use-case layer every protocol adapter (HTTP, SIP, IMAP) calls.
//
// The contract (implemented by *Service in this package):
//
//	Provision(ctx, number string, req ProvisionRequest) (Mailbox, bool /*created*/, error)
//	Mailbox(ctx, number string) (Mailbox, error)
//	Configure(ctx, number string, p MailboxPatch) (Mailbox, error)
//	RemoveMailbox(ctx, number string) error
//	Login(ctx, number, pin string) error             // ErrBadPIN, ErrLocked, ErrNotFound; one lockout for all interfaces
//	ChangePIN(ctx, number, newPIN string) error      // ErrInvalid for a PIN that is not 4-10 digits
//	PutGreeting(ctx, number string, kind GreetingKind, wav []byte) error
//	Greeting(ctx, number string, kind GreetingKind) ([]byte, error) // WAV; ErrNotFound if none recorded
//	DeleteGreeting(ctx, number string, kind GreetingKind) error
//	CanDeposit(ctx, number string) (Mailbox, error)  // ErrNotFound, ErrMailboxFull: checked before recording
//	Deposit(ctx, number string, d Deposit) (Message, error) // ErrNotFound, ErrMailboxFull, ErrTooLong, ErrBadAudio
//	Messages(ctx, number string, folder Folder) ([]Message, error) // "" = new and saved; newest first
//	Message(ctx, number, id string) (Message, error)
//	Audio(ctx, number, id string) ([]byte, error)    // WAV
//	UpdateMessage(ctx, number, id string, u MessageUpdate) (Message, error)
//	DeleteMessage(ctx, number, id string) error
//	Summary(ctx, number string) (Summary, error)     // MWI counts
//	Subscribe(number string) (<-chan Event, func())  // deposits and changes, for MWI and IMAP IDLE
//
// Audio crosses the contract as WAV bytes validated by package audio (8 kHz mono PCM16, A-law or
// µ-law). Errors are the sentinels below, wrapped with %w; adapters map them to protocol codes.
package voicemail

import (
	"errors"
	"time"
)

// Folder is where a message lives. Deleted messages are tombstoned and never listed.
type Folder string

const (
	FolderNew     Folder = "new"
	FolderSaved   Folder = "saved"
	FolderDeleted Folder = "deleted"
)

// GreetingKind names one of a mailbox's recorded greetings.
type GreetingKind string

const (
	GreetingUnavailable GreetingKind = "unavailable"
	GreetingBusy        GreetingKind = "busy"
	GreetingName        GreetingKind = "name"
	GreetingTemporary   GreetingKind = "temporary"
)

// GreetingKinds lists every kind, in the order menus offer them.
var GreetingKinds = []GreetingKind{GreetingUnavailable, GreetingBusy, GreetingName, GreetingTemporary}

// Valid reports whether k is a known greeting kind.
func (k GreetingKind) Valid() bool {
	for _, g := range GreetingKinds {
		if g == k {
			return true
		}
	}
	return false
}

// Mailbox is a subscriber's mailbox as every region sees it after merge. The PIN hash never
// leaves the service.
type Mailbox struct {
	Number            string       `json:"number"`
	DisplayName       string       `json:"displayName"`
	Language          string       `json:"language"`
	ActiveGreeting    GreetingKind `json:"activeGreeting"` // greeting played for no-answer; temporary overrides when recorded
	MaxMessageSeconds int          `json:"maxMessageSeconds"`
	MaxMessages       int          `json:"maxMessages"`
	Notify            Notification `json:"notify"`
	Created           time.Time    `json:"created"`
}

// Notification says where a mailbox's changes are announced.
type Notification struct {
	MWITarget string `json:"mwiTarget,omitempty"` // SIP URI that gets unsolicited message-summary NOTIFYs
	Email     string `json:"email,omitempty"`
}

// ProvisionRequest creates or replaces a mailbox's settings. Zero limits take the defaults.
type ProvisionRequest struct {
	PIN               string       `json:"pin"`
	DisplayName       string       `json:"displayName"`
	Language          string       `json:"language"`
	MaxMessageSeconds int          `json:"maxMessageSeconds"`
	MaxMessages       int          `json:"maxMessages"`
	Notify            Notification `json:"notify"`
}

// MailboxPatch changes only the fields that are set.
type MailboxPatch struct {
	DisplayName       *string       `json:"displayName,omitempty"`
	Language          *string       `json:"language,omitempty"`
	ActiveGreeting    *GreetingKind `json:"activeGreeting,omitempty"`
	MaxMessageSeconds *int          `json:"maxMessageSeconds,omitempty"`
	MaxMessages       *int          `json:"maxMessages,omitempty"`
	Notify            *Notification `json:"notify,omitempty"`
	PIN               *string       `json:"pin,omitempty"`
}

// Message is one voicemail's metadata after merge.
type Message struct {
	ID       string        `json:"id"`
	Mailbox  string        `json:"mailbox"`
	Caller   string        `json:"caller"`
	Received time.Time     `json:"received"`
	Duration time.Duration `json:"-"`
	// Seconds is the length in whole seconds, rounded to the nearest, whichever way the message
	// was deposited: the number the phone menu, IMAP's Content-Duration and the HTTP API show.
	Seconds    int64  `json:"durationSeconds"`
	DurationMs int64  `json:"durationMs"`
	Size       int64  `json:"size"` // bytes of the WAV
	AudioRef   string `json:"-"`
	// AudioRegion is the region whose audio container holds AudioRef.
	AudioRegion string `json:"-"`
	Folder      Folder `json:"folder"`
	Heard       bool   `json:"heard"`
	// Flags are the flags a client set (ClientFlags), sorted; empty when none is set.
	Flags []string `json:"flags,omitempty"`
}

// ClientFlags are the IMAP flags a client may set on a message and every interface keeps.
// \Seen is Heard, and \Deleted deletes; other flags are refused with ErrInvalid.
var ClientFlags = []string{`\Answered`, `\Flagged`, `\Draft`}

// Deposit is a message being left. ID may be set by the caller (so a retried deposit is
// idempotent); empty means the service assigns one.
type Deposit struct {
	ID       string
	Caller   string
	Audio    []byte // WAV
	Received time.Time
}

// MessageUpdate changes only the fields that are set.
type MessageUpdate struct {
	Heard  *bool   `json:"heard,omitempty"`
	Folder *Folder `json:"folder,omitempty"`
	// Flags sets (true) or clears (false) client flags; names are from ClientFlags.
	Flags map[string]bool `json:"flags,omitempty"`
}

// Summary is what MWI announces: new = not yet heard, old = heard (deleted not counted).
type Summary struct {
	New int `json:"new"`
	Old int `json:"old"`
}

// EventKind says what happened to a mailbox.
type EventKind string

const (
	EventDeposited EventKind = "deposited"
	EventChanged   EventKind = "changed" // flags, folder, deletion or settings
)

// Event is sent to subscribers of a mailbox after the change is stored.
type Event struct {
	Mailbox   string
	Kind      EventKind
	MessageID string
	Summary   Summary
	// Local is set when this process made the change; events of changes made elsewhere
	// (other replicas, stamps or regions) and found by polling have it unset. A notification
	// that must go out once per change (unsolicited MWI) is sent only for local events, so
	// exactly one replica, the one that made the change, sends it.
	Local bool
}

// Sentinel errors; wrap with %w.
var (
	ErrNotFound    = errors.New("not found")
	ErrExists      = errors.New("already exists")
	ErrBadPIN      = errors.New("wrong PIN")
	ErrLocked      = errors.New("mailbox locked after repeated wrong PINs")
	ErrMailboxFull = errors.New("mailbox full")
	ErrTooLong     = errors.New("message longer than the mailbox allows")
	ErrBadAudio    = errors.New("audio is not a valid 8 kHz mono WAV")
	ErrInvalid     = errors.New("invalid request")
	ErrUnavailable = errors.New("storage unavailable")
	// ErrShownChanged: RecordShown found that another process of the same writer recorded
	// what IMAP showed since the caller's snapshot; the caller reads again and decides anew.
	ErrShownChanged = errors.New("what IMAP showed was recorded by another process since the snapshot")
)
