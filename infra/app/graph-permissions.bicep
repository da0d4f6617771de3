// Microsoft Graph application permissions (app-role assignments) for the Function App identity, through the
// Microsoft Graph Bicep extension (Learn: "Microsoft Graph Bicep" quickstart; resource types
// Microsoft.Graph/servicePrincipals and Microsoft.Graph/appRoleAssignedTo, v1.0). The deploying principal needs a
// directory role that can grant application permissions (Privileged Role Administrator or Global Administrator);
// otherwise deploy with grantGraphAppRoles=false and run the admin commands in docs/deploy.md.
// App roles are looked up on the Microsoft Graph service principal by value, never by a copied GUID.
extension microsoftGraphV1

@description('Principal (object) id of the Function App user-assigned identity.')
param identityPrincipalId string

@description('Graph application permissions to grant. Application.ReadWrite.OwnedBy: create and manage the apps the identity owns (Learn: "Microsoft Graph permissions reference").')
param appRoles array = [
  'Application.ReadWrite.OwnedBy'
]

// Off by default: an Entra Mail.Send app role lets the identity send as ANY mailbox in the tenant, and an Exchange
// scope cannot narrow it (Exchange RBAC for Applications grants are independent of, and add to, Entra grants:
// https://learn.microsoft.com/exchange/permissions-exo/application-rbac). The recommended setup is an Exchange admin
// assigning "Application Mail.Send" scoped to the MAIL_SENDER mailbox (docs/deploy.md).
@description('Also grant Mail.Send tenant-wide in Entra (send as any mailbox). Default false: an Exchange admin grants Application Mail.Send scoped to the sender mailbox with RBAC for Applications instead (docs/deploy.md).')
param grantEntraMailSend bool = false

// Approver groups: the app lists each group's members, nested groups included, with
// GET /groups/{id}/transitiveMembers/microsoft.graph.user and reads their mail and userPrincipalName. Least-privileged
// application permission for that call: GroupMember.Read.All (https://learn.microsoft.com/graph/api/group-list-transitivemembers);
// without a permission to read users Graph returns the members with only their id and type, every other property null
// (https://learn.microsoft.com/graph/permissions-overview#limited-information-returned-for-inaccessible-member-objects),
// hence User.ReadBasic.All. Both only when approver groups are configured.
@description('APPROVER_GROUPS as given to the app (Entra group object ids). Non-empty: also grant GroupMember.Read.All and User.ReadBasic.All.')
param approverGroups string = ''

// Microsoft Graph's well-known application id, the same in every cloud.
resource graphServicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000'
}

var roles = grantEntraMailSend ? union(appRoles, ['Mail.Send']) : appRoles
var approverGroupRoles = !empty(approverGroups) ? ['GroupMember.Read.All', 'User.ReadBasic.All'] : []
var assignedRoles = union(roles, approverGroupRoles)

resource appRoleAssignments 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for role in assignedRoles: {
    appRoleId: filter(graphServicePrincipal.appRoles, r => r.value == role)[0].id
    principalId: identityPrincipalId
    resourceId: graphServicePrincipal.id
  }
]

output grantedRoles array = assignedRoles
