// App Service Authentication ("Easy Auth") with Microsoft Entra ID for the operator dashboard: operators sign in with
// the app registration `clientId`, and only members of the operator group are let through.
//
// - Sign-in without a client secret: Easy Auth presents a federated identity credential of a user-assigned managed
//   identity assigned to this app only, selected by the setting named OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID (preview;
//   Learn "Configure your App Service or Azure Functions app to use Microsoft Entra sign-in", "Use a managed identity
//   instead of a secret"). infra/app/api.bicep sets that setting to the identity's client id; the app registration
//   trusts the identity (docs/deploy.md, "Operator dashboard sign-in").
// - Who: `validation.defaultAuthorizationPolicy.allowedPrincipals.groups` names the operator group (ARM reference
//   Microsoft.Web sites/config 'authsettingsV2'; requests that fail the built-in checks get 403, Learn "Use a built-in
//   authorization policy"). The policy's `identities` list evaluates the token's `oid`, and `allowedApplications`
//   evaluates the `appid`/`azp` claim of an access token (same Learn section): an operator's browser session carries
//   an ID token, so `allowedApplications` is left empty. docs/deploy.md also has the app require assignment with only
//   the operator group assigned, so Entra issues no token to anyone else.
// - Where: the function-key API, the anonymous approval links and the Event Grid webhook must keep working without a
//   signed-in user. `globalValidation.excludedPaths` lists "the paths for which unauthenticated flow would not be
//   redirected to the login page" (ARM reference); Learn documents no wildcard form for it, and the API's routes carry
//   parameters (`integrations/{id}`, `approvals/{instanceId}`), so instead every request may pass unauthenticated
//   (`requireAuthentication: false`, `AllowAnonymous`) and the dashboard itself refuses a request that Easy Auth did
//   not authenticate (EASY_AUTH_ENABLED=true: no X-MS-CLIENT-PRINCIPAL-NAME header, which App Service sets and refuses
//   from outside, Learn "Work with user identities in Azure App Service authentication"), answering 401 with a
//   sign-in link (/.auth/login/aad). The dashboard also keeps its function key.
param functionAppName string
@description('Client (application) id of the app registration operators sign in with.')
param clientId string
@description('Object id of the Entra security group whose members may open the dashboard.')
param operatorGroupObjectId string
param tenantId string
@description('Entra authority host, e.g. https://login.microsoftonline.com/ (environment().authentication.loginEndpoint).')
param authorityHost string

var authority = endsWith(authorityHost, '/') ? authorityHost : '${authorityHost}/'

resource site 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: clientId
          clientSecretSettingName: 'OVERRIDE_USE_MI_FIC_ASSERTION_CLIENTID'
          openIdIssuer: '${authority}${tenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            clientId
            'api://${clientId}'
          ]
          defaultAuthorizationPolicy: {
            allowedPrincipals: {
              groups: [
                operatorGroupObjectId
              ]
            }
          }
        }
      }
    }
    login: {
      // Nothing in the app reads the provider tokens; the session cookie is enough.
      tokenStore: {
        enabled: false
      }
    }
  }
}

output signInUrl string = 'https://${site.properties.defaultHostName}/.auth/login/aad?post_login_redirect_uri=/api/dashboard'
