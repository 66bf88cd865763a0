#!/usr/bin/env bash
# The Google side of the cluster tier: one Google service account with the least roles that work, bound to
# the chart's Kubernetes service account by workload identity, and the bucket's notifications to Pub/Sub.
# Run once by an administrator (these commands need owner-level rights; the service account gets none).
# book_assets_tests/test_k8s_deploy.py fails on any role here other than the three below, and on any
# project-, folder- or organisation-wide binding.
set -euo pipefail
PROJECT=${PROJECT:?set PROJECT}
BUCKET=${BUCKET:?set BUCKET}
NAMESPACE=${NAMESPACE:-books}
GSA="book-assets@${PROJECT}.iam.gserviceaccount.com"

gcloud iam service-accounts create book-assets --project="$PROJECT" --display-name="book_assets code location"

# Read, write, list and delete objects in the book bucket only (no bucket settings, no IAM changes).
gcloud storage buckets add-iam-policy-binding "gs://${BUCKET}" \
  --member="serviceAccount:${GSA}" --role="roles/storage.objectUser"

# Cloud Storage notifications -> Pub/Sub (books_pubsub_sensor); the command grants the bucket's service
# agent the publisher role on this topic itself.
gcloud pubsub topics create book-bucket-events --project="$PROJECT"
gcloud storage buckets notifications create "gs://${BUCKET}" --topic="projects/${PROJECT}/topics/book-bucket-events" \
  --payload-format=json --event-types=OBJECT_FINALIZE,OBJECT_DELETE,OBJECT_METADATA_UPDATE
gcloud pubsub subscriptions create book-bucket-events --project="$PROJECT" --topic=book-bucket-events \
  --ack-deadline=600 --message-retention-duration=7d
# Pull and acknowledge on that one subscription.
gcloud pubsub subscriptions add-iam-policy-binding book-bucket-events --project="$PROJECT" \
  --member="serviceAccount:${GSA}" --role="roles/pubsub.subscriber"

# Workload identity: the Kubernetes service account `book-assets` acts as the Google one, nothing more.
gcloud iam service-accounts add-iam-policy-binding "$GSA" --project="$PROJECT" \
  --member="serviceAccount:${PROJECT}.svc.id.goog[${NAMESPACE}/book-assets]" --role="roles/iam.workloadIdentityUser"
