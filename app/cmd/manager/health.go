package main

import "github.com/voicemail-platform/voicemail/app/internal/health"

// healthPath is the stamp health path Traffic Manager and the manager probe; stateComponent
// is the name the stamp's summary gives its state-blob check (VOICEMAIL_MANAGER_* override).
const (
	healthPath     = "/health/stamp"
	stateComponent = health.State
)
