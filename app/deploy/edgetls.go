package deploy

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
)

// TLS at the stamp's edge. With a Key Vault (every Azure stamp) the API serves HTTPS only, IMAP
// offers STARTTLS (login refused before it) and implicit TLS, and the dispatcher terminates SIP
// over TLS from the SBCs; all three read contract.EdgeCertificate from the CSI mount and follow
// its renewals without a restart. Without a Key Vault (tests of the manifests) everything is
// plain. Metrics are always on their own port, which no Service exposes.
const (
	IMAPSPort        = 1993
	MetricsPort      = 9090
	SIPTLSPort       = 5061
	ServiceHTTPSPort = 443
	ServiceIMAPSPort = 993
	// keyVaultMount is where the CSI volume puts the Key Vault objects, one file each.
	keyVaultMount = "/mnt/keyvault"
)

// EdgeCertFile is the mounted PEM file of the edge certificate (key and chain).
const EdgeCertFile = keyVaultMount + "/" + contract.EdgeCertificate

// edgeTLS reports whether the stamp's edges speak TLS: they do whenever a Key Vault holds
// the certificate.
func edgeTLS(a Args) bool { return a.KeyVaultName != nil }

// apiPortName is the container port of the API (and of the kubelet's probes).
func apiPortName(a Args) string {
	if edgeTLS(a) {
		return "https"
	}
	return "http"
}

// keyVaultObjects is the SecretProviderClass "objects" parameter: the operator token, and the
// edge certificate as objectType secret, which yields the private key with the whole chain
// (objectType cert would give the server certificate alone), in PEM for a certificate whose
// content type is PEM.
// https://azure.github.io/secrets-store-csi-driver-provider-azure/docs/configurations/getting-certs-and-keys
// The driver polls the vault (every 2 minutes by default, enableSecretRotation on the AKS
// add-on) and rewrites the mounted file; the application has to notice the change itself.
// https://learn.microsoft.com/azure/aks/csi-secrets-store-configuration-options#enable-and-disable-auto-rotation
func keyVaultObjects(names ...string) string {
	var b strings.Builder
	b.WriteString("array:\n")
	for _, o := range names {
		fmt.Fprintf(&b, "  - |\n    objectName: %s\n    objectType: secret\n", o)
	}
	return b.String()
}

// keyVaultVolume is the CSI volume of a SecretProviderClass's objects and its read-only mount.
func keyVaultVolume(provider string) (volume, mount obj) {
	return obj{"name": pulumi.String("keyvault"), "csi": obj{
			"driver": pulumi.String("secrets-store.csi.k8s.io"), "readOnly": pulumi.Bool(true),
			"volumeAttributes": pulumi.StringMap{"secretProviderClass": pulumi.String(provider)},
		}},
		obj{"name": pulumi.String("keyvault"), "mountPath": pulumi.String(keyVaultMount), "readOnly": pulumi.Bool(true)}
}
