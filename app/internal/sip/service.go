package sip

import (
	"context"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// Depositor is what a deposit call needs from *voicemail.Service.
type Depositor interface {
	CanDeposit(ctx context.Context, number string) (voicemail.Mailbox, error)
	Deposit(ctx context.Context, number string, d voicemail.Deposit) (voicemail.Message, error)
	Greeting(ctx context.Context, number string, kind voicemail.GreetingKind) ([]byte, error)
}

// Mailboxes is what the retrieval menu needs from *voicemail.Service.
type Mailboxes interface {
	Mailbox(ctx context.Context, number string) (voicemail.Mailbox, error)
	Login(ctx context.Context, number, pin string) error
	ChangePIN(ctx context.Context, number, newPIN string) error
	PutGreeting(ctx context.Context, number string, kind voicemail.GreetingKind, wav []byte) error
	Messages(ctx context.Context, number string, folder voicemail.Folder) ([]voicemail.Message, error)
	Audio(ctx context.Context, number, id string) ([]byte, error)
	UpdateMessage(ctx context.Context, number, id string, u voicemail.MessageUpdate) (voicemail.Message, error)
	DeleteMessage(ctx context.Context, number, id string) error
}

// Notifier is what MWI needs from *voicemail.Service.
type Notifier interface {
	Summary(ctx context.Context, number string) (voicemail.Summary, error)
	Subscribe(number string) (<-chan voicemail.Event, func())
	// MWITargets lists the mailboxes with an MWI target, so unsolicited MWI reaches mailboxes
	// this server has not seen through a call or subscription since it started.
	MWITargets(ctx context.Context) ([]string, error)
}

// Service is the whole of *voicemail.Service the SIP front end uses.
type Service interface {
	Depositor
	Mailboxes
	Notifier
}
