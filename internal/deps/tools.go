//go:build tools

// Package deps pins the modules the parallel work streams use while the tree is being
// built, so go.mod and go.sum are settled once. Removed when every module is imported
// by real code.
package deps

import (
	_ "github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	_ "github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	_ "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	_ "github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	_ "github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-imap/v2/imapserver"
	_ "github.com/emiago/sipgo"
	_ "github.com/pion/rtp"
	_ "github.com/pion/sdp/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/pulumi/pulumi-azure-native-sdk/authorization/v2/v20220401"
	_ "github.com/pulumi/pulumi-azure-native-sdk/compute/v2/v20240701"
	_ "github.com/pulumi/pulumi-azure-native-sdk/containerregistry/v2/v20230701"
	_ "github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2/v20240801"
	_ "github.com/pulumi/pulumi-azure-native-sdk/documentdb/v2/v20230415"
	_ "github.com/pulumi/pulumi-azure-native-sdk/insights/v2/v20220615"
	_ "github.com/pulumi/pulumi-azure-native-sdk/keyvault/v2/v20230701"
	_ "github.com/pulumi/pulumi-azure-native-sdk/managedidentity/v2/v20230131"
	_ "github.com/pulumi/pulumi-azure-native-sdk/network/v2/v20220401"
	_ "github.com/pulumi/pulumi-azure-native-sdk/operationalinsights/v2/v20221001"
	_ "github.com/pulumi/pulumi-azure-native-sdk/resources/v2/v20240301"
	_ "github.com/pulumi/pulumi-azure-native-sdk/storage/v2/v20230501"
	_ "github.com/pulumi/pulumi-azure-native-sdk/v2"
	_ "github.com/pulumi/pulumi-azure-native-sdk/web/v2/v20231201"
	_ "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	_ "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	_ "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	_ "github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	_ "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	_ "github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"
	_ "github.com/rhysd/actionlint"
	_ "github.com/stretchr/testify/require"
	_ "go.etcd.io/bbolt"
	_ "gopkg.in/yaml.v3"
	_ "k8s.io/api/apps/v1"
	_ "k8s.io/api/core/v1"
)
