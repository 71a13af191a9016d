package sip

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/voicemail-platform/voicemail/app/internal/audio"
)

// codec is the negotiated audio format of a call.
type codec struct {
	PT       uint8
	Name     string // PCMU or PCMA
	Encoding audio.Encoding
}

// silence is the G.711 byte for a zero sample, used to fill lost packets.
func (c codec) silence() byte {
	if c.Encoding == audio.ULaw {
		return 0xFF
	}
	return 0xD5
}

var (
	pcmu = codec{PT: 0, Name: "PCMU", Encoding: audio.ULaw}
	pcma = codec{PT: 8, Name: "PCMA", Encoding: audio.ALaw}
)

// errNoCodec means the offer has no audio stream we can take (answered with 488).
var errNoCodec = errors.New("no acceptable audio codec in offer (want PCMU or PCMA)")

// offer is what we need from the caller's SDP.
type offer struct {
	Remote  *net.UDPAddr // where to send RTP
	Codec   codec
	DTMFPT  uint8 // 0 when telephone-event was not offered
	HasDTMF bool
}

// parseOffer picks the first of the caller's formats we support (the offerer's preference
// order, RFC 3264 §6.1) and its telephone-event payload type.
func parseOffer(body []byte) (offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return offer{}, fmt.Errorf("parse SDP: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			continue
		}
		if !strings.HasPrefix(md.MediaName.Protos[0]+"/", "RTP/") {
			continue
		}
		ci := md.ConnectionInformation
		if ci == nil {
			ci = sd.ConnectionInformation
		}
		if ci == nil || ci.Address == nil {
			return offer{}, fmt.Errorf("parse SDP: no connection address")
		}
		ip := net.ParseIP(ci.Address.Address)
		if ip == nil {
			return offer{}, fmt.Errorf("parse SDP: connection address %q is not an IP", ci.Address.Address)
		}
		o := offer{Remote: &net.UDPAddr{IP: ip, Port: md.MediaName.Port.Value}}
		names := map[uint8]string{0: "PCMU", 8: "PCMA"}
		for _, a := range md.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			pt, rest, ok := strings.Cut(a.Value, " ")
			n, err := strconv.Atoi(pt)
			if !ok || err != nil || n < 0 || n > 127 {
				continue
			}
			name, _, _ := strings.Cut(rest, "/")
			names[uint8(n)] = strings.ToUpper(strings.TrimSpace(name))
		}
		found := false
		for _, f := range md.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			switch names[uint8(n)] {
			case "PCMU":
				if !found {
					o.Codec, found = codec{PT: uint8(n), Name: "PCMU", Encoding: audio.ULaw}, true
				}
			case "PCMA":
				if !found {
					o.Codec, found = codec{PT: uint8(n), Name: "PCMA", Encoding: audio.ALaw}, true
				}
			case "TELEPHONE-EVENT":
				if !o.HasDTMF {
					o.DTMFPT, o.HasDTMF = uint8(n), true
				}
			}
		}
		if !found {
			return offer{}, errNoCodec
		}
		return o, nil
	}
	return offer{}, errNoCodec
}

// answerSDP is our answer: one audio stream with the chosen codec and, if offered,
// telephone-event, with 20 ms packets.
func answerSDP(o offer, ip net.IP, port int, sessID uint64) []byte {
	ipv := "IP4"
	if ip.To4() == nil {
		ipv = "IP6"
	}
	fmts := strconv.Itoa(int(o.Codec.PT))
	if o.HasDTMF {
		fmts += " " + strconv.Itoa(int(o.DTMFPT))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=voicemail %d %d IN %s %s\r\ns=voicemail\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessID, sessID, ipv, ip, ipv, ip)
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %s\r\n", port, fmts)
	fmt.Fprintf(&b, "a=rtpmap:%d %s/8000\r\n", o.Codec.PT, o.Codec.Name)
	if o.HasDTMF {
		fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/8000\r\na=fmtp:%d 0-16\r\n", o.DTMFPT, o.DTMFPT)
	}
	b.WriteString("a=ptime:20\r\na=sendrecv\r\n")
	return []byte(b.String())
}

// offerSDP is our offer for a late-offer INVITE: both G.711 laws and telephone-event.
func offerSDP(ip net.IP, port int, sessID uint64) []byte {
	ipv := "IP4"
	if ip.To4() == nil {
		ipv = "IP6"
	}
	return []byte(fmt.Sprintf("v=0\r\no=voicemail %d %d IN %s %s\r\ns=voicemail\r\nc=IN %s %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"+
		"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
		sessID, sessID, ipv, ip, ipv, ip, port))
}
