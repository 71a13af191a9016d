package sip

import "github.com/voicemail-platform/voicemail/contract"

// Config tunes the SIP front end: the stamp contract's SIP settings. Zero values take the
// defaults (contract.SIP.WithDefaults).
type Config = contract.SIP
