// Alerts on the handler's structured log events (handler/src/events.rs),
// routed to one action group that e-mails the operator. Every handler log
// line is one JSON object that Application Insights stores as a trace whose
// message is the JSON. tracing-subscriber nests an event's fields under
// "fields" unless flattened (the handler flattens them): the queries accept
// both shapes, reading the event name as coalesce(fields.event, event) and
// every field through `f`.

@description('Azure region of the alert rules.')
param location string

@description('Application Insights resource id the rules query.')
param appInsightsId string

@description('Name prefix of the monitoring resources.')
param namePrefix string

@description('E-mail address receiving the alerts.')
param alertEmail string

@description('Throttled Graph responses per 15 minutes that count as throttling (alert when 3 of 4 windows exceed it).')
@minValue(1)
param throttleThreshold int = 50

// Shared head of every query: JSON log lines, the event name, the fields.
var events = 'traces | where message startswith "{" | extend e = parse_json(message) | extend event = coalesce(tostring(e.fields.event), tostring(e.event)) | extend f = iff(isnotempty(tostring(e.fields.event)), e.fields, e)'

var failedRunsQuery = '${events} | where event == "run_summary" | where tostring(f.outcome) == "failed" | project timestamp, tenant_id = tostring(f.tenant_id), job = tostring(f.job), run_id = tostring(f.run_id)'

var parkedQuery = '${events} | where event == "work_item_parked" | project timestamp, tenant_id = tostring(f.tenant_id), job = tostring(f.job), run_id = tostring(f.run_id), dequeue_count = tolong(f.dequeue_count)'

var guardQuery = '${events} | where event == "guard_tripped" | project timestamp, tenant_id = tostring(f.tenant_id), run_id = tostring(f.run_id), wanted = tolong(f.wanted), max_removals = tolong(f["limit"])'

var secretQuery = '${events} | where event == "secret_expiry" | summarize days_left = min(tolong(f.days_left)) by tenant_id = tostring(f.tenant_id), secret_name = tostring(f.secret_name), level = tostring(f.level)'

// A 429 may be counted both by a graph_throttled line and in the run's
// `throttled` count: take the larger of the two, not their sum.
var throttleQuery = '${events} | where event in ("run_summary", "graph_throttled") | summarize from_runs = sumif(tolong(f.throttled), event == "run_summary"), from_events = countif(event == "graph_throttled") by bin(timestamp, 15m) | extend throttled = max_of(from_runs, from_events)'

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = {
  name: '${namePrefix}-ops'
  location: 'global'
  properties: {
    groupShortName: 'guestsync'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

resource failedRuns 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-failed-runs'
  location: location
  properties: {
    displayName: 'guest-sync: failed runs'
    description: 'A tenant job finished with outcome failed (run_summary). Open the report or the workbook for the tenant and run id.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: failedRunsQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource parkedItems 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-poison-items'
  location: location
  properties: {
    displayName: 'guest-sync: work items parked in the poison queue'
    description: 'A work item failed maxDequeueCount times and was moved to guestsync-work-poison (work_item_parked).'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: parkedQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource guardTripped 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-deprovision-guard'
  location: location
  properties: {
    displayName: 'guest-sync: deprovision guard tripped'
    description: 'A run would have removed more guests than GUESTSYNC_MAX_DEPROVISIONS and removed nobody (guard_tripped). An administrator must confirm or fix the source group.'
    severity: 1
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: guardQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource secretsExpiring 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-secrets-expiring'
  location: location
  properties: {
    displayName: 'guest-sync: client secrets expiring'
    description: 'A source tenant\'s or the host app\'s client secret expires within 30 days or has expired (secret_expiry). Renew it and update the Key Vault secret.'
    severity: 2
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'P1D'
    windowSize: 'P1D'
    criteria: {
      allOf: [
        {
          query: secretQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

resource sustainedThrottling 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${namePrefix}-sustained-throttling'
  location: location
  properties: {
    displayName: 'guest-sync: sustained Graph throttling'
    description: 'Graph answered 429 more than the threshold in 3 of the last 4 quarter hours (graph_throttled, run_summary.throttled): the host tenant\'s write budget is saturated or another app shares it.'
    severity: 3
    enabled: true
    scopes: [
      appInsightsId
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: throttleQuery
          timeAggregation: 'Total'
          metricMeasureColumn: 'throttled'
          operator: 'GreaterThan'
          threshold: throttleThreshold
          failingPeriods: {
            numberOfEvaluationPeriods: 4
            minFailingPeriodsToAlert: 3
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: [
        actionGroup.id
      ]
    }
  }
}

@description('Action group resource id.')
output actionGroupId string = actionGroup.id
