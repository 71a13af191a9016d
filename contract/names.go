package contract

// Paths the stamp binary serves and its probes use.
const (
	// StampHealthPath answers 200 or 503 with a JSON summary per component. Traffic Manager
	// and the management service probe it; it is what takes a stamp out of rotation.
	StampHealthPath = "/health/stamp"
	// LivenessPath answers 200 while the process runs (Kubernetes liveness and startup).
	LivenessPath = "/health/liveness"
	// ReadinessPath answers 200 while the pod takes new work, 503 once it is shutting down.
	ReadinessPath = "/health/ready"
)

// StateComponent is the name the stamp's health summary gives its state-blob check. The
// management service judges a stamp by every component except this one, or a drained stamp
// could never prove it has recovered.
const StateComponent = "state"

// Kubernetes names. The app identity's federated credential trusts exactly this namespace and
// service account; the stamp dispatcher's identity trusts DispatcherServiceAccount alone, so
// neither workload can act as the other.
const (
	Namespace                = "voicemail"
	ServiceAccount           = "voicemail"
	DispatcherServiceAccount = "sip-dispatcher"
)

// Storage names the program creates and the binaries use.
const (
	// ServiceTable is the Cosmos DB table of the service's CRDT rows.
	ServiceTable      = "voicemail"
	AudioContainer    = "audio"
	StateContainer    = "state"
	DepositQueue      = "deposits"
	NotificationQueue = "notifications"
	// OperatorTokenSecret is the regional Key Vault secret holding the operator token, read by
	// the stamps (CSI driver) and the management service (Key Vault reference).
	OperatorTokenSecret = "operator-token"
	// EdgeCertificate is the regional Key Vault certificate (content type PEM, private key
	// exportable) of the stamps' public names: the HTTPS API, IMAPS/STARTTLS and SIP over TLS
	// at the dispatcher. Pods mount it through the CSI driver as one PEM file (key and chain)
	// and follow its renewals.
	EdgeCertificate = "edge-tls"
)

// ReplicaContainer names the container that receives origin's audio container (called audio)
// by object replication; the program creates it and the stores read replicas by it.
// Replication destinations are read-only (writes get 409), so a region writes only its own
// audio container and every replica is named for the region it came from.
func ReplicaContainer(audio, origin string) string { return audio + "-" + origin }

// InitStateArg is the stamp binary's one-shot mode that creates the stamp's state blob (see
// StateBlob); the workload's state-init Job runs the binary with it.
const InitStateArg = "init-state"
