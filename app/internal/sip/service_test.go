package sip

import "github.com/voicemail-platform/voicemail/app/internal/voicemail"

var _ Service = (*voicemail.Service)(nil)
