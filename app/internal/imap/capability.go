package imap

func (s *session) capabilities() string {
	caps := "IMAP4rev1 LITERAL+ SASL-IR ID IDLE NAMESPACE QUOTA UNSELECT ENABLE"
	if s.srv.cfg.TLS != nil && !s.tls {
		caps += " STARTTLS"
	}
	if s.state == stateNotAuth {
		if s.srv.cfg.loginNeedsTLS() && !s.tls {
			caps += " LOGINDISABLED"
		} else {
			caps += " AUTH=PLAIN"
		}
	}
	return caps
}

func (s *session) cmdCapability(cmd command) error {
	if len(cmd.args) != 0 {
		return bad("CAPABILITY takes no arguments")
	}
	s.writef("* CAPABILITY %s\r\n", s.capabilities())
	return nil
}
