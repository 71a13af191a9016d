package regional

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	keyvault "github.com/pulumi/pulumi-azure-native-sdk/keyvault/v2/v20230201"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/certgen"
	"github.com/voicemail-platform/voicemail/internal/topology"
)

// vaultCreateMode is "recover" for a region whose vault was deleted less than the soft-delete
// retention ago: with purge protection on, the name stays reserved by the deleted vault for
// those 90 days and a "default" create of the same name fails; recovering brings back the
// vault and its secrets (https://learn.microsoft.com/en-us/azure/key-vault/general/soft-delete-overview).
// The mode only matters at creation, so later changes of it are ignored.
func vaultCreateMode(reg topology.Region) keyvault.CreateModePtrInput {
	if reg.RecoverKeyVault {
		return keyvault.CreateModeRecover.ToCreateModePtrOutput()
	}
	return keyvault.CreateModeDefault.ToCreateModePtrOutput()
}

// operatorTokenBytes is the operator token's entropy (base64url encoded: 43 characters).
const operatorTokenBytes = 32

// operatorToken creates the operator token in the region's vault through ARM, so it exists
// before anything that reads it: the stamps' pods mount it through the CSI driver and the
// management service resolves it through a Key Vault reference, and both depend on this
// resource. ARM writes secrets with the deployer's control-plane rights
// (Microsoft.KeyVault/vaults/secrets/write), so no data-plane role is needed and the value
// never enters stack config: it is generated on the first `pulumi up`, kept in state as a
// secret, and later runs keep the stored value (operators rotate it in Key Vault). The secret
// is retained on delete: a deleted secret's name stays reserved under purge protection, and
// deleting the vault removes it anyway.
//
// The vault's public network access is off, and the deploy runner is outside its network; the
// write still succeeds because it is a control-plane request to Azure Resource Manager, not a
// call to the vault's endpoint: "Azure Key Vault firewall rules only apply to data plane
// operations. Control plane operations are not subject to the restrictions specified in
// firewall rules." (https://learn.microsoft.com/azure/key-vault/general/network-security,
// Restrictions & Considerations). Policy rule deploy-control-plane-only keeps every write the
// program makes into a private store on that side.
func operatorToken(ctx *pulumi.Context, prefix string, kv *keyvault.Vault, rg *resources.ResourceGroup) (pulumi.Resource, error) {
	buf := make([]byte, operatorTokenBytes)
	if _, err := rand.Read(buf); err != nil {
		return nil, err
	}
	return keyvault.NewSecret(ctx, prefix+"kv-operator-token", &keyvault.SecretArgs{
		VaultName: kv.Name, ResourceGroupName: rg.Name, SecretName: pulumi.String(topology.OperatorTokenSecret),
		Properties: &keyvault.SecretPropertiesArgs{
			Value:       pulumi.ToSecret(pulumi.String(base64.RawURLEncoding.EncodeToString(buf))).(pulumi.StringOutput),
			ContentType: pulumi.String("text/plain"),
		},
	}, pulumi.Parent(kv), pulumi.IgnoreChanges([]string{"properties.value"}), pulumi.RetainOnDelete(true),
		pulumi.AdditionalSecretOutputs([]string{"properties"}))
}

// bootstrapCertValidity is how long the bootstrap edge certificate is valid: long enough that
// a stack is never left without TLS, short enough that it is replaced.
const bootstrapCertValidity = 90 * 24 * time.Hour

// edgeCertificate creates contract.EdgeCertificate in the region's vault with a self-signed
// certificate for hosts (the region's stamps and the Traffic Manager name), so a first
// deployment serves TLS everywhere at once: Traffic Manager's HTTPS probe checks that a
// certificate is presented, not that it is trusted
// (https://learn.microsoft.com/azure/traffic-manager/traffic-manager-monitoring). The
// operator then stores the real chain as a new version of the same secret (PEM, key and chain,
// content type application/x-pem-file); the CSI driver mounts new versions and the pods and
// dispatchers serve them without a restart. Later runs keep whatever version is current, and
// the secret is retained on delete as the operator token is.
func edgeCertificate(ctx *pulumi.Context, prefix string, kv *keyvault.Vault, rg *resources.ResourceGroup, hosts []string) (pulumi.Resource, error) {
	certPEM, keyPEM, err := certgen.SelfSigned(hosts[0], bootstrapCertValidity, hosts...)
	if err != nil {
		return nil, err
	}
	return keyvault.NewSecret(ctx, prefix+"kv-edge-tls", &keyvault.SecretArgs{
		VaultName: kv.Name, ResourceGroupName: rg.Name, SecretName: pulumi.String(contract.EdgeCertificate),
		Properties: &keyvault.SecretPropertiesArgs{
			Value:       pulumi.ToSecret(pulumi.String(string(keyPEM) + string(certPEM))).(pulumi.StringOutput),
			ContentType: pulumi.String("application/x-pem-file"),
		},
	}, pulumi.Parent(kv), pulumi.IgnoreChanges([]string{"properties.value", "properties.contentType"}), pulumi.RetainOnDelete(true),
		pulumi.AdditionalSecretOutputs([]string{"properties"}))
}
