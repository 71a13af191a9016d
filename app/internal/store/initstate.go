package store

// InitOutcome is what a backend's state initialisation did (`voicemail init-state`).
type InitOutcome string

// Outcomes of InitState. Only InitCreated wrote the state marker.
const (
	// InitCreated: the marker did not exist and was created; the stamp starts in service.
	InitCreated InitOutcome = "created"
	// InitPresent: the marker was already there and was left untouched.
	InitPresent InitOutcome = "present"
	// InitDone: the stamp was initialised before, so a missing marker means a drain and it
	// stays missing.
	InitDone InitOutcome = "already-initialized"
)
