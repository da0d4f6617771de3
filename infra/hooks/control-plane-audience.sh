#!/bin/sh
# The control-plane audience app: the Entra app registration whose tokens ServiceNow instances trust for the
# product's own calls (SERVICENOW_AUTH_MODE=entra; docs/deploy.md "Connect an instance"). Run by azd (azure.yaml hooks):
#
#   preprovision   ensure the app (app ID URI api://<appId>, v2 access tokens, one application role, assignment
#                  required on its service principal) and `azd env set SERVICENOW_TOKEN_AUDIENCE api://<appId>`, so
#                  the deployment configures the Function App with it;
#   postprovision  assign that role to the Function App's managed identity (AZURE_MANAGED_IDENTITY_PRINCIPAL_ID), so
#                  only it gets tokens for the audience.
#
# Idempotent: every step looks the object up first and changes nothing that is already right. Needs the az CLI signed
# in as an Application Administrator (or Cloud Application Administrator) and, for the role assignment, a role that may
# grant app roles of an app it does not own (Privileged Role Administrator), or the app's owner.
# Skipped when SERVICENOW_AUTH_MODE is basic or oauth, or when SERVICENOW_TOKEN_AUDIENCE_MANAGED=false (set the
# audience yourself). Microsoft Graph: application update (https://learn.microsoft.com/graph/api/application-update),
# grant an app role (https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignments).
set -eu

step="${1:-}"
env_value() { azd env get-value "$1" 2>/dev/null || true; }

mode="$(env_value SERVICENOW_AUTH_MODE)"
case "${mode:-entra}" in entra) ;; *) echo "control-plane audience: SERVICENOW_AUTH_MODE=$mode, nothing to do"; exit 0 ;; esac
if [ "$(env_value SERVICENOW_TOKEN_AUDIENCE_MANAGED)" = "false" ]; then
  echo "control-plane audience: SERVICENOW_TOKEN_AUDIENCE_MANAGED=false, nothing to do"
  exit 0
fi

env_name="$(env_value AZURE_ENV_NAME)"
name="m365-snow-provisioner ServiceNow control plane (${env_name:-default})"
role_value="ServiceNow.ControlPlane"

app_id="$(az ad app list --display-name "$name" --query "[0].appId" -o tsv)"

case "$step" in
preprovision)
  if [ -z "$app_id" ]; then
    app_id="$(az ad app create --display-name "$name" --sign-in-audience AzureADMyOrg --query appId -o tsv)"
    echo "control-plane audience: created app $app_id"
  else
    echo "control-plane audience: found app $app_id"
  fi
  if [ "$(az ad app show --id "$app_id" --query "identifierUris[0]" -o tsv)" != "api://$app_id" ]; then
    az ad app update --id "$app_id" --identifier-uris "api://$app_id"
  fi
  # v2 tokens: their aud is the client id and their issuer the v2 metadata's, as the ServiceNow trust expects.
  if [ "$(az ad app show --id "$app_id" --query "api.requestedAccessTokenVersion" -o tsv)" != "2" ]; then
    az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/applications(appId='$app_id')" \
      --body '{"api":{"requestedAccessTokenVersion":2}}'
  fi
  if [ -z "$(az ad app show --id "$app_id" --query "appRoles[?value=='$role_value'].id | [0]" -o tsv)" ]; then
    role_id="$(uuidgen 2>/dev/null || cat /proc/sys/kernel/random/uuid)"
    az ad app update --id "$app_id" --app-roles "[{\"allowedMemberTypes\":[\"Application\"],\"description\":\"Call ServiceNow as the control plane\",\"displayName\":\"ServiceNow control plane\",\"isEnabled\":true,\"value\":\"$role_value\",\"id\":\"$role_id\"}]"
  fi
  sp_id="$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)"
  if [ -z "$sp_id" ]; then sp_id="$(az ad sp create --id "$app_id" --query id -o tsv)"; fi
  if [ "$(az ad sp show --id "$sp_id" --query appRoleAssignmentRequired -o tsv)" != "true" ]; then
    az rest --method PATCH --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$sp_id" \
      --body '{"appRoleAssignmentRequired":true}'
  fi
  azd env set SERVICENOW_TOKEN_AUDIENCE "api://$app_id"
  ;;
postprovision)
  if [ -z "$app_id" ]; then echo "control-plane audience: no app '$name' (the preprovision hook creates it)" >&2; exit 1; fi
  mi="$(env_value AZURE_MANAGED_IDENTITY_PRINCIPAL_ID)"
  if [ -z "$mi" ]; then echo "control-plane audience: AZURE_MANAGED_IDENTITY_PRINCIPAL_ID is not set" >&2; exit 1; fi
  sp_id="$(az ad sp list --filter "appId eq '$app_id'" --query "[0].id" -o tsv)"
  role_id="$(az ad app show --id "$app_id" --query "appRoles[?value=='$role_value'].id | [0]" -o tsv)"
  assigned="$(az rest --method GET --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$mi/appRoleAssignments" \
    --query "value[?resourceId=='$sp_id' && appRoleId=='$role_id'].id | [0]" -o tsv)"
  if [ -z "$assigned" ]; then
    az rest --method POST --uri "https://graph.microsoft.com/v1.0/servicePrincipals/$mi/appRoleAssignments" \
      --body "{\"principalId\":\"$mi\",\"resourceId\":\"$sp_id\",\"appRoleId\":\"$role_id\"}"
    echo "control-plane audience: role assigned to the managed identity $mi"
  else
    echo "control-plane audience: the managed identity $mi already holds the role"
  fi
  ;;
*)
  echo "usage: $0 preprovision|postprovision" >&2
  exit 2
  ;;
esac
