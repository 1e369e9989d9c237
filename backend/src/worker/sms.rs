//! SMS providers behind one small trait: `log` (nothing leaves the machine) and `webhook`.

use crate::config::{Settings, SmsProviderKind};
use crate::db::{Database, jobs};
use anyhow::Context;
use chrono::Utc;
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One text message to send.
#[derive(Debug, Clone, Serialize)]
pub struct Sms {
    /// Stable across retries: providers can use it to drop repeats.
    pub job_id: i64,
    pub to: String,
    pub username: String,
    pub body: String,
}

pub type SendResult<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + 'a>>;

/// Sends an SMS, or says why it could not.
pub trait SmsProvider {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendResult<'a>;
}

/// The provider the settings ask for.
pub fn from_settings(settings: &Settings, db: Database) -> anyhow::Result<Box<dyn SmsProvider>> {
    Ok(match settings.sms_provider {
        SmsProviderKind::Log => Box::new(LogProvider { db }),
        SmsProviderKind::Webhook => {
            let url = settings.sms_webhook_url.clone().context(
                "--sms-provider webhook needs --sms-webhook-url (NATTER_SMS_WEBHOOK_URL)",
            )?;
            let client = reqwest::Client::builder()
                .timeout(Duration::from_millis(settings.sms_webhook_timeout_ms))
                .build()
                .context("cannot build the HTTP client for the SMS webhook")?;
            Box::new(WebhookProvider { client, url })
        }
    })
}

/// Like the original's fake send: a log line and a row in `sms_outbox`.
pub struct LogProvider {
    db: Database,
}

impl SmsProvider for LogProvider {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendResult<'a> {
        Box::pin(async move {
            let (job_id, to, body) = (sms.job_id, sms.to.clone(), sms.body.clone());
            self.db
                .run(move |conn| {
                    Ok(jobs::record_sms(
                        conn,
                        job_id,
                        &to,
                        &body,
                        Utc::now().naive_utc(),
                    )?)
                })
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(job_id, to = %mask(&sms.to), username = %sms.username, "SMS sent (log provider)");
            Ok(())
        })
    }
}

/// POSTs each SMS as JSON; any answer but 2xx, or none in time, is a failure.
pub struct WebhookProvider {
    client: reqwest::Client,
    url: String,
}

impl SmsProvider for WebhookProvider {
    fn send<'a>(&'a self, sms: &'a Sms) -> SendResult<'a> {
        Box::pin(async move {
            let res = self
                .client
                .post(&self.url)
                .header("Idempotency-Key", format!("natter-sms-{}", sms.job_id))
                .json(sms)
                .send()
                .await
                .map_err(|e| format!("webhook unreachable: {e}"))?;
            let status = res.status();
            if !status.is_success() {
                return Err(format!("webhook answered {status}"));
            }
            tracing::info!(job_id = sms.job_id, to = %mask(&sms.to), "SMS sent (webhook)");
            Ok(())
        })
    }
}

/// A phone number for logs: the last three digits only.
fn mask(phone: &str) -> String {
    let tail: String = phone
        .chars()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("***{tail}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn phone_numbers_are_masked_in_logs() {
        assert_eq!(super::mask("+15551234567"), "***567");
        assert_eq!(super::mask("+1"), "***+1");
    }
}
