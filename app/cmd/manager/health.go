package main

// The stamp health path and the name the stamp's summary gives its state-blob check.
// TODO(workload): take these from app/internal/health once it lands.
const (
	healthPath     = "/health/stamp"
	stateComponent = "state"
)
