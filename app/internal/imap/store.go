package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/voicemail-platform/voicemail/app/internal/voicemail"
)

// flagArgs collects the flags of STORE/APPEND: a list, or bare atoms.
func flagArgs(args []value) ([]string, error) {
	var out []string
	for _, a := range args {
		switch a.kind {
		case kindList:
			for _, f := range a.list {
				if f.kind != kindAtom {
					return nil, fmt.Errorf("flags must be atoms")
				}
				out = append(out, f.s)
			}
		case kindAtom:
			out = append(out, a.s)
		default:
			return nil, fmt.Errorf("flags must be atoms")
		}
	}
	return out, nil
}

func (s *session) cmdStore(ctx context.Context, cmd command) error {
	if err := s.needSelected(); err != nil {
		return err
	}
	if len(cmd.args) < 3 || cmd.args[0].kind != kindAtom || cmd.args[1].kind != kindAtom {
		return bad("%s needs a sequence set, an item and flags", cmd.name)
	}
	if s.sel.readOnly {
		return no("[READ-ONLY] mailbox is read-only")
	}
	byUID := cmd.name == "UID STORE"
	set, err := parseSeqSet(cmd.args[0].s)
	if err != nil {
		return bad("invalid sequence set")
	}
	op := strings.ToUpper(cmd.args[1].s)
	silent := strings.HasSuffix(op, ".SILENT")
	op = strings.TrimSuffix(op, ".SILENT")
	if op != "FLAGS" && op != "+FLAGS" && op != "-FLAGS" {
		return bad("unknown STORE item %q", cmd.args[1].s)
	}
	flags, err := flagArgs(cmd.args[2:])
	if err != nil {
		return bad("%v", err)
	}
	var seen, deleted, active bool
	var kept []string // client flags named, in voicemail.ClientFlags spelling
	for _, f := range flags {
		switch {
		case strings.EqualFold(f, flagSeen):
			seen = true
		case strings.EqualFold(f, flagDeleted):
			deleted = true
		case strings.EqualFold(f, flagGreetOn):
			active = true
		default:
			for _, c := range voicemail.ClientFlags {
				if strings.EqualFold(f, c) && s.sel.name == inboxName && !slices.Contains(kept, c) {
					kept = append(kept, c)
				}
			}
		}
		// Other flags are not permanent here (PERMANENTFLAGS says so); they are dropped.
	}
	want := func(has, cur bool) bool {
		switch op {
		case "+FLAGS":
			return cur || has
		case "-FLAGS":
			return cur && !has
		}
		return has
	}
	for _, i := range s.matching(set, byUID) {
		it := s.sel.items[i]
		if err := s.storeKept(ctx, it, op, kept); err != nil {
			return err
		}
		if ns := want(seen, it.seen); ns != it.seen {
			if err := s.setSeen(ctx, it, ns); err != nil {
				return err
			}
		}
		it.deleted = want(deleted, it.deleted)
		if s.sel.name == greetingsName {
			if na := want(active, it.active); na && !it.active {
				k := it.kind
				if _, err := s.srv.svc.Configure(ctx, s.number, voicemail.MailboxPatch{ActiveGreeting: &k}); err != nil {
					return err
				}
				for _, o := range s.sel.items {
					o.active = false
				}
				it.active = true
			}
		}
		if !silent {
			uid := ""
			if byUID {
				uid = fmt.Sprintf("UID %d ", it.uid)
			}
			s.writef("* %d FETCH (%sFLAGS %s)\r\n", i+1, uid, it.flags())
		}
	}
	return nil
}

// storeKept applies a STORE of client flags (named: the ones the command lists) to a message
// through the service, which merges them like any other message state; only changes are sent.
func (s *session) storeKept(ctx context.Context, it *item, op string, named []string) error {
	if s.sel.name != inboxName {
		return nil
	}
	change := map[string]bool{}
	for _, c := range voicemail.ClientFlags {
		has, in := it.has(c), slices.Contains(named, c)
		switch {
		case op == "+FLAGS" && in && !has, op == "FLAGS" && in && !has:
			change[c] = true
		case op == "-FLAGS" && in && has, op == "FLAGS" && !in && has:
			change[c] = false
		}
	}
	if len(change) == 0 {
		return nil
	}
	m, err := s.srv.svc.UpdateMessage(ctx, s.number, it.msgID, voicemail.MessageUpdate{Flags: change})
	if err != nil {
		return err
	}
	it.kept, it.msg.Flags = m.Flags, m.Flags
	return nil
}
