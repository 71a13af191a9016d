package imap

import (
	"strings"
)

func (s *session) cmdList(cmd command) error {
	if len(cmd.args) != 2 {
		return bad("%s needs a reference and a pattern", cmd.name)
	}
	ref, ok1 := cmd.args[0].astring()
	pattern, ok2 := cmd.args[1].astring()
	if !ok1 || !ok2 {
		return bad("%s needs a reference and a pattern", cmd.name)
	}
	if pattern == "" {
		s.writef("* %s (\\Noselect) \"/\" \"\"\r\n", cmd.name)
		return nil
	}
	pattern = ref + pattern
	for _, name := range []string{inboxName, greetingsName} {
		if listMatch(pattern, name) {
			s.writef("* %s (\\HasNoChildren) \"/\" %s\r\n", cmd.name, quote(name))
		}
	}
	return nil
}

// listMatch matches LIST wildcards (* anything, % anything but the "/" delimiter); INBOX is
// matched case-insensitively.
func listMatch(pattern, name string) bool {
	if strings.EqualFold(name, inboxName) {
		pattern, name = strings.ToUpper(pattern), strings.ToUpper(name)
	}
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*', '%':
		for i := 0; i <= len(name); i++ {
			if pattern[0] == '%' && i > 0 && name[i-1] == '/' {
				break
			}
			if listMatch(pattern[1:], name[i:]) {
				return true
			}
		}
		return false
	}
	return name != "" && pattern[0] == name[0] && listMatch(pattern[1:], name[1:])
}
