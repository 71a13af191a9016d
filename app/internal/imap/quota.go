package imap

import (
	"context"
	"fmt"
)

// quota reports the voice quota: messages stored (new and saved) against the mailbox limit.
func (s *session) quota(ctx context.Context) (string, error) {
	mb, err := s.srv.svc.Mailbox(ctx, s.number)
	if err != nil {
		return "", err
	}
	msgs, err := s.srv.svc.Messages(ctx, s.number, "")
	if err != nil {
		return "", err
	}
	// OMTP clients (Android's VVM) read the "voice" resource of the QUOTA response.
	return fmt.Sprintf("* QUOTA \"\" (voice %d %d)\r\n", len(msgs), mb.MaxMessages), nil
}

func (s *session) cmdGetQuotaRoot(ctx context.Context, cmd command) error {
	if len(cmd.args) != 1 {
		return bad("GETQUOTAROOT needs a mailbox")
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		return err
	}
	q, err := s.quota(ctx)
	if err != nil {
		return err
	}
	s.writef("* QUOTAROOT %s \"\"\r\n%s", quote(name), q)
	return nil
}

func (s *session) cmdGetQuota(ctx context.Context, cmd command) error {
	if len(cmd.args) != 1 {
		return bad("GETQUOTA needs a quota root")
	}
	if root, ok := cmd.args[0].astring(); !ok || root != "" {
		return no("[NONEXISTENT] the only quota root is \"\"")
	}
	q, err := s.quota(ctx)
	if err != nil {
		return err
	}
	s.writef("%s", q)
	return nil
}
