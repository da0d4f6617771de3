// Microsoft Graph application permissions (app-role assignments) for the Function App identity, through the
// Microsoft Graph Bicep extension (Learn: "Microsoft Graph Bicep" quickstart; resource types
// Microsoft.Graph/servicePrincipals and Microsoft.Graph/appRoleAssignedTo, v1.0). The deploying principal needs a
// directory role that can grant application permissions (Privileged Role Administrator or Global Administrator);
// otherwise deploy with grantGraphAppRoles=false and run the admin commands in docs/deploy.md.
// App roles are looked up on the Microsoft Graph service principal by value, never by a copied GUID.
extension microsoftGraphV1

@description('Principal (object) id of the Function App user-assigned identity.')
param identityPrincipalId string

@description('Graph application permissions to grant. Application.ReadWrite.OwnedBy: create and manage the apps the identity owns (microsoft-apis.md §1).')
param appRoles array = [
  'Application.ReadWrite.OwnedBy'
]

@description('Also grant Mail.Send tenant-wide in Entra. Mail.Send alone can send as any mailbox; see docs/deploy.md for Exchange RBAC for Applications scoping.')
param grantEntraMailSend bool = true

// Microsoft Graph's well-known application id, the same in every cloud.
resource graphServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

var roles = grantEntraMailSend ? union(appRoles, ['Mail.Send']) : appRoles

resource appRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for role in roles: {
    appRoleId: filter(graphServicePrincipal.appRoles, r => r.value == role)[0].id
    principalId: identityPrincipalId
    resourceId: graphServicePrincipal.id
  }
]

output grantedRoles array = roles
