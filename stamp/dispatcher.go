package stamp

import (
	managedidentity "github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2/v20230131"
	resources "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20220901"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/voicemail-platform/voicemail/contract"
	"github.com/voicemail-platform/voicemail/internal/arm"
	"github.com/voicemail-platform/voicemail/internal/topology"
	"github.com/voicemail-platform/voicemail/regional"
)

// dispatcherIdentity gives the stamp's SIP dispatcher (Kamailio) its own workload identity:
// a user-assigned identity federated with the dispatcher's service account alone, allowed to
// read nothing but the edge certificate, which the CSI driver mounts for SIP over TLS. The
// dispatcher faces the SBCs and parses every request; a compromise of it must not reach the
// app's data (Cosmos DB, audio, queues) or the operator token, as it would if it ran as the
// app's identity.
//
// Key Vault Secrets User is assigned on the secret itself: Azure RBAC for Key Vault accepts
// individual secrets as a scope, and recommends it where one secret is shared between
// applications (https://learn.microsoft.com/azure/key-vault/general/rbac-guide). The
// assignment waits for the secret, since a scope that does not exist yet is refused.
func (s *Stamp) dispatcherIdentity(ctx *pulumi.Context, st topology.Stamp, rg *resources.ResourceGroup, tags pulumi.StringMap, r *regional.Regional) error {
	p := st.ID + "-"
	id, err := managedidentity.NewUserAssignedIdentity(ctx, p+"id-sip", &managedidentity.UserAssignedIdentityArgs{
		ResourceName: pulumi.String(st.Names.DispatcherIdentity), ResourceGroupName: rg.Name, Location: pulumi.String(st.Region), Tags: tags,
	}, pulumi.Parent(s))
	if err != nil {
		return err
	}
	s.DispatcherIdentityClientID = id.ClientId
	if _, err := managedidentity.NewFederatedIdentityCredential(ctx, p+"id-sip-federation", &managedidentity.FederatedIdentityCredentialArgs{
		ResourceName: id.Name, ResourceGroupName: rg.Name,
		FederatedIdentityCredentialResourceName: pulumi.String(topology.FederatedCredentialName),
		Issuer:                                  s.OIDCIssuerURL,
		Subject:                                 pulumi.String(topology.DispatcherFederatedSubject()),
		Audiences:                               pulumi.StringArray{pulumi.String(topology.WorkloadIdentityAudience)},
	}, pulumi.Parent(id)); err != nil {
		return err
	}
	return s.secretReader(ctx, p+"sip", id.PrincipalId, r, pulumi.Parent(id),
		secretGrant{"edge-tls", contract.EdgeCertificate, r.EdgeCertificate})
}

// secretGrant is one Key Vault secret a workload identity reads, and the resource creating it.
type secretGrant struct {
	name, secret string
	created      pulumi.Resource
}

// secretReader grants principal Key Vault Secrets User on each secret alone (not the vault):
// each workload reads exactly the secrets it mounts. The pods' Kubernetes objects wait for the
// grants.
func (s *Stamp) secretReader(ctx *pulumi.Context, prefix string, principal pulumi.StringInput, r *regional.Regional, parent pulumi.ResourceOption, grants ...secretGrant) error {
	for _, g := range grants {
		read, err := arm.NewRoleAssignment(ctx, prefix+"-"+g.name, arm.RoleArgs{
			Scope: pulumi.Sprintf("%s/secrets/%s", r.KeyVaultID, g.secret), Role: arm.KeyVaultSecretsUser, PrincipalID: principal,
		}, parent, pulumi.DependsOn([]pulumi.Resource{g.created}))
		if err != nil {
			return err
		}
		s.WorkloadDependencies = append(s.WorkloadDependencies, read)
	}
	return nil
}
