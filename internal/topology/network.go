package topology

import (
	"fmt"
	"strings"
)

// Subnet names beside each VNet's workload subnet.
const (
	// PrivateEndpointSubnet holds a VNet's private endpoints to the data planes.
	PrivateEndpointSubnet = "snet-pe"
	// FunctionsSubnet is the regional Functions app's VNet-integration subnet (delegated to
	// Microsoft.Web/serverFarms, so it holds nothing else).
	FunctionsSubnet = "snet-func"
)

// PrivateEndpointRange is the region VNet's private-endpoint subnet, after the jump box's.
func (r Region) PrivateEndpointRange() string { return fmt.Sprintf("10.%d.1.0/24", 16*r.Index) }

// FunctionsRange is the region VNet's Functions integration subnet; /26 is the smallest size
// App Service recommends, so plan instances can scale out and swap.
func (r Region) FunctionsRange() string { return fmt.Sprintf("10.%d.2.0/26", 16*r.Index) }

// PrivateEndpointRange is the stamp VNet's private-endpoint subnet: the last /24 of its /16,
// away from the node and pod ranges at the start of the space.
func (s Stamp) PrivateEndpointRange() string {
	second := strings.Split(s.AddressSpace, ".")[1]
	return "10." + second + ".254.0/24"
}

// NSGName names the network security group of a VNet's subnet.
func NSGName(vnet, subnet string) string {
	return "nsg-" + vnet + "-" + strings.TrimPrefix(subnet, "snet-")
}
