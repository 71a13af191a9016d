package sip

import (
	"testing"

	"github.com/emiago/sipgo/sip"
)

// FuzzParseRequest drives the request parsing path a message takes before any handler:
// TCP framing (Content-Length), sipgo's parser, our header checks, routing (RFC 4458 / History-Info / Diversion), SDP offer
// parsing, and the stateless 400 for what fails. Nothing may panic, and every 400 we build
// for a request must itself parse as a 400.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(okOptions))
	f.Add([]byte("INVITE sip:voicemail@h;target=sip:1%40x;cause=486 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n" +
		"From: <sip:a@h>;tag=1\r\nTo: <sip:v@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContact: <sip:a@h>\r\n" +
		"History-Info: <sip:1@x?Reason=SIP%3Bcause%3D486>;index=1, <sip:v@h;cause=486>;index=1.1\r\n" +
		"Diversion: <sip:2@x>;reason=user-busy\r\nContent-Type: application/sdp\r\nContent-Length: 79\r\n\r\n" +
		sippOffer[:79]))
	f.Add([]byte("SUBSCRIBE sip:1@h SIP/2.0\r\nv: SIP/2.0/TCP h\r\nf: <sip:1@h>;tag=x\r\nt: <sip:1@h>\r\ni: c\r\nCSeq: 1 SUBSCRIBE\r\nEvent: message-summary\r\nl: 0\r\n\r\n"))
	f.Add([]byte("\x00\r\n\r\n"))
	p := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		if n, ok := contentLength(data); ok && n < 0 {
			t.Fatalf("negative Content-Length accepted: %d", n)
		}
		req, err := parseRequest(p, data)
		if err != nil {
			if resp := badRequest(data); resp != nil {
				msg, perr := sip.ParseMessage(resp)
				if perr != nil {
					t.Fatalf("our 400 does not parse: %v\n%q", perr, resp)
				}
				if r, ok := msg.(*sip.Response); !ok || r.StatusCode != 400 {
					t.Fatalf("built a non-400 answer: %q", resp)
				}
			}
			return
		}
		if req == nil {
			return
		}
		_ = routeOf(req, true)
		if len(req.Body()) > 0 {
			_, _ = parseOffer(req.Body())
		}
	})
}
