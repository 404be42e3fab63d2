"""Complaints and tip-offs handled inside (投诉举报办理): the workflow (workflow.py: actions, holder,
deadlines, due work, statistics) and its pages (views.py, templates in admin/templates/complaints/)."""
