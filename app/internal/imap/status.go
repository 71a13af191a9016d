package imap

import (
	"context"
	"fmt"
	"strings"
)

func (s *session) cmdStatus(ctx context.Context, cmd command) error {
	if len(cmd.args) != 2 || cmd.args[1].kind != kindList {
		return bad("STATUS needs a mailbox and a list of items")
	}
	name, err := mailboxName(cmd.args[0])
	if err != nil {
		return err
	}
	f, err := s.load(ctx, name)
	if err != nil {
		return err
	}
	validity, next, items := f.validity, f.uidNext, f.items
	var out []string
	for _, v := range cmd.args[1].list {
		switch key := strings.ToUpper(v.s); key {
		case "MESSAGES":
			out = append(out, fmt.Sprintf("MESSAGES %d", len(items)))
		case "RECENT":
			out = append(out, "RECENT 0")
		case "UIDNEXT":
			out = append(out, fmt.Sprintf("UIDNEXT %d", next))
		case "UIDVALIDITY":
			out = append(out, fmt.Sprintf("UIDVALIDITY %d", validity))
		case "UNSEEN":
			n := 0
			for _, it := range items {
				if !it.seen {
					n++
				}
			}
			out = append(out, fmt.Sprintf("UNSEEN %d", n))
		default:
			return bad("unknown STATUS item %q", v.s)
		}
	}
	s.writef("* STATUS %s (%s)\r\n", quote(name), strings.Join(out, " "))
	return nil
}
