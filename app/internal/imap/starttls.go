package imap

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// cmdStartTLS answers and upgrades the connection itself: the tagged OK must go out in clear.
func (s *session) cmdStartTLS(cmd command) error {
	var err error
	switch {
	case len(cmd.args) != 0:
		err = bad("STARTTLS takes no arguments")
	case s.srv.cfg.TLS == nil:
		err = no("[CANNOT] TLS is not configured")
	case s.tls:
		err = bad("TLS is already active")
	case s.state != stateNotAuth:
		err = bad("STARTTLS only before login")
	}
	if err != nil {
		se := err.(*statusErr)
		s.writef("%s %s %s\r\n", cmd.tag, se.status, se.text)
		return s.flush()
	}
	s.writef("%s OK begin TLS negotiation now\r\n", cmd.tag)
	if err := s.flush(); err != nil {
		return err
	}
	if s.br.Buffered() > 0 {
		// Plaintext sent after STARTTLS would be injected into the TLS session (CVE-2011-0411).
		return errors.New("data pipelined after STARTTLS")
	}
	tc := tls.Server(s.raw, s.srv.cfg.TLS)
	s.raw.SetDeadline(time.Now().Add(30 * time.Second))
	if err := tc.HandshakeContext(s.ctx); err != nil {
		return fmt.Errorf("starttls handshake: %w", err)
	}
	s.raw.SetDeadline(time.Time{})
	s.tls = true
	s.setConn(tc)
	return nil
}
