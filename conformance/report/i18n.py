"""Every interface string of the report and of the report commands, in French and English.

French is the default: auditors are French. Strings live in one table so a test can prove that every key
has both languages, and so the English report never shows a stray French label (or the reverse).
Finding messages are not here: they come with their own English twin (``message_en``).
"""

from __future__ import annotations

from typing import Any

LANGS = ("fr", "en")
DEFAULT_LANG = "fr"

# key -> {"fr": ..., "en": ...}; ``{name}`` placeholders are filled by ``t(key, lang, name=...)``.
STRINGS: dict[str, dict[str, str]] = {
    # document
    "doc.title": {"fr": "Rapport de conformité Ségur DUI", "en": "Ségur DUI conformance report"},
    "doc.subtitle": {
        "fr": "Pré-contrôle automatisé du référencement Ségur — le vérificateur ANS reste seul juge.",
        "en": "Automated pre-check for the Ségur referencing — the ANS checker alone decides.",
    },
    "doc.generated": {"fr": "Rapport généré le {date} par segur-conformance {version}",
                      "en": "Report generated on {date} by segur-conformance {version}"},
    "doc.noscript": {
        "fr": "JavaScript est désactivé : le rapport est complet, mais les filtres et la recherche ne sont "
              "pas disponibles. Utilisez la recherche du navigateur (Ctrl+F).",
        "en": "JavaScript is disabled: the report is complete, but filters and search are unavailable. "
              "Use the browser's find (Ctrl+F).",
    },
    "doc.toc": {"fr": "Sommaire", "en": "Contents"},
    "doc.skip": {"fr": "Aller au contenu", "en": "Skip to content"},
    "doc.blocking": {"fr": "Exigences à traiter (non conformes ou non évaluées)",
                     "en": "Requirements to address (failed or not evaluated)"},
    # header
    "hdr.candidate": {"fr": "Candidat", "en": "Candidate"},
    "hdr.product": {"fr": "Produit", "en": "Product"},
    "hdr.version": {"fr": "Version", "en": "Version"},
    "hdr.vendor": {"fr": "Éditeur", "en": "Vendor"},
    "hdr.unknown": {"fr": "non communiqué", "en": "not provided"},
    "hdr.profile": {"fr": "Profil de couloir", "en": "Corridor profile"},
    "hdr.waves": {"fr": "Vagues", "en": "Waves"},
    "hdr.harness": {"fr": "Version du harnais", "en": "Harness version"},
    "hdr.kit": {"fr": "Kit CI-SIS", "en": "CI-SIS kit"},
    "hdr.kit_none": {
        "fr": "non fourni : les contrôles XSD et schématrons officiels n'ont pas été exécutés",
        "en": "not provided: the official XSD and schematron checks were not run",
    },
    "hdr.kit_hash": {"fr": "empreinte SHA-256", "en": "SHA-256 digest"},
    "hdr.catalogue": {"fr": "Catalogue d'exigences", "en": "Requirement catalogue"},
    "hdr.catalogue_origin": {"fr": "Origine", "en": "Origin"},
    "hdr.catalogue_statements": {
        "fr": "{ans} énoncés ANS publics, {imported} importés d'un REM, {paraphrase} paraphrases du banc",
        "en": "{ans} public ANS statements, {imported} imported from an REM, {paraphrase} harness paraphrases",
    },
    "hdr.catalogue_french": {
        "fr": "Les textes du catalogue (titres, énoncés, scénarios et preuves du REM) restent en français.",
        "en": "The catalogue texts (REM titles, statements, scenarios and proofs) are the ANS's and stay in French; "
              "the harness's own texts (verdicts, reasons, findings) are in English.",
    },
    "hdr.catalogue_none": {
        "fr": "non enregistré dans ce fichier de résultats (campagne antérieure)",
        "en": "not recorded in this results file (earlier run)",
    },
    "hdr.run_date": {"fr": "Date de la campagne", "en": "Run date"},
    "hdr.run_id": {"fr": "Identifiant de campagne", "en": "Run identifier"},
    "hdr.signer": {"fr": "Clé de", "en": "Key of"},
    "hdr.signer_unknown": {"fr": "détenteur non déclaré (variable SEGUR_SIGNER)",
                           "en": "holder not declared (SEGUR_SIGNER variable)"},
    "hdr.paraphrase_banner": {
        "fr": "Textes reformulés, non officiels : le REM DUI officiel n'a pas été importé (segur-conformance "
              "import-rem). Fiabilité des énoncés de ce rapport : {v} V (source primaire ANS), {vd} Vd (données "
              "de travail ANS), {s} S (source secondaire), {i} I (déduits, non confirmés). Seul le texte "
              "officiel de l'ANS fait foi.",
        "en": "Reworded, unofficial texts: the official DUI REM has not been imported (segur-conformance "
              "import-rem). Reliability of this report's statements: {v} V (ANS primary source), {vd} Vd (ANS "
              "working data), {s} S (secondary source), {i} I (inferred, unconfirmed). Only the ANS's official "
              "text is authoritative.",
    },
    "hdr.duration": {"fr": "Durée", "en": "Duration"},
    "hdr.seconds": {"fr": "{n} s", "en": "{n} s"},
    "hdr.mode": {"fr": "Mode", "en": "Mode"},
    "hdr.mode_sandbox": {"fr": "bac à sable du candidat (contrat déclaré : {contract})",
                         "en": "candidate sandbox (declared contract: {contract})"},
    "hdr.mode_artefacts": {"fr": "dossier d'artefacts", "en": "artefact folder"},
    "hdr.mode_reference": {"fr": "bac à sable de référence du harnais (contrat déclaré : {contract})",
                           "en": "harness reference sandbox (declared contract: {contract})"},
    "hdr.target": {"fr": "Cible", "en": "Target"},
    "hdr.platform": {"fr": "Plateforme", "en": "Platform"},
    "hdr.signing_key": {"fr": "Clé publique de signature (Ed25519)", "en": "Signing public key (Ed25519)"},
    "hdr.fingerprint": {"fr": "empreinte", "en": "fingerprint"},
    "hdr.signing_note": {
        "fr": "Empreintes enregistrées à la génération : manifest.json (SHA-256 de chaque fichier), signé dans "
              "manifest.sig. Ce rapport ne peut pas constater lui-même une modification ultérieure : contrôler "
              "avec segur-conformance verify <dossier> --public-key <clé>. La clé publique doit être obtenue "
              "de l'émetteur par un autre canal ; celle imprimée ici, venant du même dossier, ne prouve pas "
              "l'origine.",
        "en": "Digests recorded when generated: manifest.json (SHA-256 of every file), signed in manifest.sig. "
              "This report cannot itself notice a later change: check with segur-conformance verify <folder> "
              "--public-key <key>. Obtain the public key from the issuer through another channel; the one "
              "printed here comes from the same folder and does not prove origin.",
    },
    "hdr.unsigned": {"fr": "non signé", "en": "unsigned"},
    "hdr.reference_banner": {
        "fr": "Campagne exécutée sur le bac à sable de référence du harnais (simulateur), pas sur un "
              "logiciel candidat. Défauts injectés : {defects}.",
        "en": "Run against the harness's reference sandbox (a simulator), not a candidate product. "
              "Injected defects: {defects}.",
    },
    "hdr.no_defect": {"fr": "aucun", "en": "none"},
    "hdr.selection_banner": {
        "fr": "Campagne partielle : seuls les tests sélectionnés par « {selection} » ont été exécutés ; "
              "les autres exigences apparaissent non testées.",
        "en": "Partial run: only the tests selected by \u201c{selection}\u201d ran; the other requirements "
              "show as not run.",
    },
    "hdr.interrupted_banner": {
        "fr": "Campagne interrompue : résultats partiels, à ne pas présenter comme un dossier de preuves.",
        "en": "Run interrupted: partial results, not to be presented as a proof file.",
    },
    # overall status
    "status.title": {"fr": "Bilan du pré-contrôle", "en": "Pre-check outcome"},
    "status.failed": {"fr": "NON CONFORME : des exigences obligatoires échouent ou n'ont pas pu être évaluées",
                      "en": "NOT CONFORMANT: mandatory requirements failed or could not be evaluated"},
    "status.incomplete": {"fr": "INCOMPLET : des exigences obligatoires n'ont pas été testées",
                          "en": "INCOMPLETE: mandatory requirements were not tested"},
    "status.manual": {
        "fr": "CONFORME SOUS RÉSERVE des preuves manuelles : toutes les preuves automatisées sont satisfaites ; "
              "les preuves manuelles sont à fournir par l'éditeur et à accepter par le vérificateur",
        "en": "CONFORMANT SUBJECT TO the manual proofs: every automated proof holds; the manual proofs are to "
              "be supplied by the vendor and accepted by the checker",
    },
    "status.reserved": {"fr": "CONFORME AVEC RÉSERVES : des preuves obligatoires ne reposent que sur des "
                               "vérifications non confirmées (avertissements)",
                        "en": "CONFORMANT WITH RESERVATIONS: some mandatory proofs rest only on unconfirmed "
                              "checks (warnings)"},
    "harness.title": {"fr": "Préalables de la campagne", "en": "Campaign preconditions"},
    "harness.note": {"fr": "Chaque verdict ci-dessous en dépend : un préalable en échec rend la campagne non conforme.",
                     "en": "Every verdict below depends on them: a failed precondition makes the campaign fail."},
    "req.failing_proofs": {"fr": "Preuves en échec", "en": "Failing proofs"},
    "proof.reason": {"fr": "Motif", "en": "Reason"},
    "status.passed": {"fr": "CONFORME (pré-contrôle)", "en": "CONFORMANT (pre-check)"},
    # summary
    "sum.title": {"fr": "Synthèse", "en": "Summary"},
    "sum.total": {"fr": "Exigences évaluées", "en": "Requirements assessed"},
    "sum.mandatory": {"fr": "Exigences obligatoires (DOIT)", "en": "Mandatory requirements (SHALL)"},
    "sum.mandatory_met": {"fr": "satisfaites", "en": "met"},
    "sum.mandatory_failed": {"fr": "non satisfaites", "en": "failed"},
    "sum.mandatory_error": {"fr": "non évaluées", "en": "not evaluated"},
    "sum.mandatory_not_run": {"fr": "non testées", "en": "not tested"},
    "sum.mandatory_manual": {"fr": "en attente de preuve manuelle", "en": "awaiting manual evidence"},
    "sum.mandatory_met.one": {"fr": "satisfaite", "en": "met"},
    "sum.mandatory_failed.one": {"fr": "non satisfaite", "en": "failed"},
    "sum.mandatory_error.one": {"fr": "non évaluée", "en": "not evaluated"},
    "sum.mandatory_not_run.one": {"fr": "non testée", "en": "not tested"},
    "sum.by_section": {"fr": "Par section (ordre ANS)", "en": "By section (ANS order)"},
    "sum.section": {"fr": "Section", "en": "Section"},
    "sum.chart": {"fr": "Répartition", "en": "Breakdown"},
    "sum.findings": {"fr": "Constats", "en": "Findings"},
    # verdicts (requirement and proof level)
    "verdict.passed": {"fr": "CONFORME", "en": "PASS"},
    "verdict.failed": {"fr": "NON CONFORME", "en": "FAIL"},
    "verdict.reserved": {"fr": "CONFORME AVEC RÉSERVES", "en": "PASS WITH RESERVATIONS"},
    "verdict.error": {"fr": "NON ÉVALUÉ", "en": "NOT EVALUATED"},
    "verdict.not_run": {"fr": "NON TESTÉ", "en": "NOT TESTED"},
    "verdict.manual": {"fr": "PREUVE MANUELLE REQUISE", "en": "MANUAL EVIDENCE REQUIRED"},
    "verdict_plural.passed": {"fr": "conformes", "en": "passed"},
    "verdict_plural.failed": {"fr": "non conformes", "en": "failed"},
    "verdict_plural.reserved": {"fr": "conformes avec réserves", "en": "passed with reservations"},
    "verdict_plural.error": {"fr": "non évaluées", "en": "not evaluated"},
    "verdict_plural.not_run": {"fr": "non testées", "en": "not tested"},
    "verdict_plural.manual": {"fr": "en attente de preuve manuelle", "en": "awaiting manual evidence"},
    "verdict_plural.passed.one": {"fr": "conforme", "en": "passed"},
    "verdict_plural.failed.one": {"fr": "non conforme", "en": "failed"},
    "verdict_plural.reserved.one": {"fr": "conforme avec réserves", "en": "passed with reservations"},
    "verdict_plural.error.one": {"fr": "non évaluée", "en": "not evaluated"},
    "verdict_plural.not_run.one": {"fr": "non testée", "en": "not tested"},
    # requirement attributes
    "req.statement": {"fr": "Énoncé", "en": "Statement"},
    "req.nature": {"fr": "Nature", "en": "Nature"},
    "req.must": {"fr": "DOIT", "en": "SHALL"},
    "req.may": {"fr": "PEUT", "en": "MAY"},
    "req.criticite": {"fr": "Criticité", "en": "Criticality"},
    "crit.MINEURE": {"fr": "Mineure", "en": "Minor"},
    "crit.MAJEURE": {"fr": "Majeure", "en": "Major"},
    "crit.CRITIQUE": {"fr": "Critique", "en": "Critical"},
    "req.conditional": {"fr": "Exigence conditionnelle", "en": "Conditional requirement"},
    "req.conditional_no": {"fr": "Non (profil Général)", "en": "No (General profile)"},
    "req.conditional_yes": {"fr": "Oui : {profile}", "en": "Yes: {profile}"},
    "req.wave": {"fr": "Périmètre", "en": "Scope"},
    "req.wave_n": {"fr": "Vague {n}", "en": "Wave {n}"},
    "req.corridors": {"fr": "Couloirs", "en": "Corridors"},
    "req.verified": {"fr": "Fiabilité du texte", "en": "Text reliability"},
    "verified.V": {"fr": "V — vérifié dans une source primaire ANS",
                   "en": "V — checked in a primary ANS source"},
    "verified.Vd": {"fr": "Vd — vérifié dans les données de travail ANS (texte DUI final non vu)",
                    "en": "Vd — checked in ANS working data (final DUI text not seen)"},
    "verified.S": {"fr": "S — source secondaire", "en": "S — secondary source"},
    "verified.I": {"fr": "I — déduit, non confirmé : à vérifier", "en": "I — inferred, unconfirmed: to be checked"},
    "req.source": {"fr": "Source", "en": "Source"},
    "req.source_internal": {"fr": "paraphrase du banc : aucune source ANS publique citée",
                            "en": "harness paraphrase: no public ANS source cited"},
    "req.socle": {"fr": "Exigence socle", "en": "Common-base requirement"},
    "req.refs": {"fr": "Références externes", "en": "External references"},
    "req.reason": {"fr": "Motif", "en": "Reason"},
    "req.tests": {"fr": "Tests exécutés", "en": "Tests run"},
    "req.no_scenario": {"fr": "Aucun scénario décrit dans le catalogue.", "en": "No scenario in the catalogue."},
    "req.common_findings": {"fr": "Constats (non rattachés à une preuve précise)",
                            "en": "Findings (not tied to one proof)"},
    "req.other_evidence": {"fr": "Autres pièces collectées", "en": "Other collected evidence"},
    "req.findings_more": {"fr": "… {n} constats de plus : voir results.json",
                          "en": "… {n} more findings: see results.json"},
    "req.findings_more.one": {"fr": "… {n} constat de plus : voir results.json",
                              "en": "… {n} more finding: see results.json"},
    "req.n_blocking": {"fr": "{n} bloquants", "en": "{n} blocking"},
    "req.n_blocking.one": {"fr": "{n} bloquant", "en": "{n} blocking"},
    "req.n_warnings": {"fr": "{n} avertissements", "en": "{n} warnings"},
    "req.n_warnings.one": {"fr": "{n} avertissement", "en": "{n} warning"},
    "req.n_verified": {"fr": "{n} points vérifiés", "en": "{n} verified points"},
    "req.n_verified.one": {"fr": "{n} point vérifié", "en": "{n} verified point"},
    "scn.scenario": {"fr": "Scénario", "en": "Scenario"},
    "proof.proof": {"fr": "Preuve", "en": "Proof"},
    "proof.kind": {"fr": "Nature de la preuve", "en": "Kind of proof"},
    "proof.points": {"fr": "Points de vérification", "en": "Points of verification"},
    "proof.method_manual": {"fr": "manuelle", "en": "manual"},
    "proof.method_automated": {"fr": "automatisée", "en": "automated"},
    "proof.slot_title": {"fr": "Emplacement réservé à la preuve de l'éditeur",
                         "en": "Slot reserved for the vendor's proof"},
    "proof.slot_body": {
        "fr": "Le harnais ne peut pas produire cette preuve. L'éditeur doit fournir : {kind}.",
        "en": "The harness cannot produce this proof. The vendor must supply: {kind}.",
    },
    "proof.slot_reason": {"fr": "Pourquoi manuelle", "en": "Why manual"},
    "proof.no_finding": {"fr": "Aucun constat enregistré.", "en": "No finding recorded."},
    "proof.evidence": {"fr": "Pièces", "en": "Evidence"},
    # findings table
    "f.severity": {"fr": "Gravité", "en": "Severity"},
    "f.rule": {"fr": "Règle", "en": "Rule"},
    "f.message": {"fr": "Constat", "en": "Finding"},
    "f.where": {"fr": "Artefact · XPath · ligne", "en": "Artefact · XPath · line"},
    "f.expected": {"fr": "Attendu", "en": "Expected"},
    "f.found": {"fr": "Trouvé", "en": "Found"},
    "sum.n_error": {"fr": "bloquants", "en": "blocking"},
    "sum.n_warning": {"fr": "avertissements", "en": "warnings"},
    "sum.n_info": {"fr": "vérifiés", "en": "checked"},
    "sum.n_error.one": {"fr": "bloquant", "en": "blocking"},
    "sum.n_warning.one": {"fr": "avertissement", "en": "warning"},
    "sum.n_info.one": {"fr": "vérifié", "en": "checked"},
    "sev.error": {"fr": "bloquant", "en": "error"},
    "sev.warning": {"fr": "avertissement", "en": "warning"},
    "sev.info": {"fr": "vérifié", "en": "checked"},
    # evidence
    "ev.missing": {"fr": "fichier absent du dossier", "en": "file missing from the folder"},
    "ev.mismatch": {"fr": "empreinte différente de celle enregistrée", "en": "digest differs from the recorded one"},
    "ev.ok": {"fr": "empreinte enregistrée (identique au fichier à la génération) — contrôler avec "
                    "segur-conformance verify",
              "en": "recorded digest (matched the file when generated) — check with segur-conformance verify"},
    "ev.raw": {"fr": "brut", "en": "raw"},
    "print.failures": {"fr": "Non-conformités et preuves non évaluées ({n})",
                       "en": "Failures and proofs not evaluated ({n})"},
    "print.info_folded": {"fr": "{n} points de vérification satisfaits, détaillés dans la version HTML",
                          "en": "{n} verification points held, detailed in the HTML version"},
    "print.info_folded.one": {"fr": "{n} point de vérification satisfait, détaillé dans la version HTML",
                              "en": "{n} verification point held, detailed in the HTML version"},
    "print.see_failures": {"fr": "détail en tête de dossier (non-conformités)",
                           "en": "detailed at the front of the dossier (failures)"},
    "print.footer_run": {"fr": "Campagne", "en": "Run"},
    "print.footer_page": {"fr": "page", "en": "page"},
    "todo.title": {"fr": "Preuves manuelles à fournir ({n})", "en": "Manual proofs to supply ({n})"},
    "todo.note": {"fr": "Ces preuves ne peuvent pas être produites par le banc (vidéo, capture d'écran, attestation, "
                        "certificat CNDA…) : l'éditeur les fournit au vérificateur, preuve par preuve.",
                  "en": "The harness cannot produce these proofs (video, screenshot, attestation, CNDA "
                        "certificate…): the vendor supplies them to the checker, proof by proof."},
    "todo.requirement": {"fr": "Exigence", "en": "Requirement"},
    "todo.proof": {"fr": "Preuve", "en": "Proof"},
    "todo.kind": {"fr": "Nature attendue", "en": "Expected kind"},
    "todo.points": {"fr": "Points à vérifier", "en": "Points to check"},
    "ev.view": {"fr": "vue", "en": "view"},
    "ev.unsafe": {"fr": "chemin refusé (hors du dossier du rapport)", "en": "path refused (outside the report folder)"},
    "ev.index": {"fr": "Index des pièces", "en": "Evidence index"},
    "ev.path": {"fr": "Fichier", "en": "File"},
    "ev.kind": {"fr": "Nature", "en": "Kind"},
    "ev.size": {"fr": "Taille (octets)", "en": "Size (bytes)"},
    "ev.test": {"fr": "Test", "en": "Test"},
    "ev.none": {"fr": "Aucune pièce collectée.", "en": "No evidence collected."},
    # toolbar (also used by the inline script)
    "ui.filters": {"fr": "Filtres", "en": "Filters"},
    "ui.verdict": {"fr": "Verdict", "en": "Verdict"},
    "ui.section": {"fr": "Section", "en": "Section"},
    "ui.section_all": {"fr": "Toutes les sections", "en": "All sections"},
    "ui.mandatory_only": {"fr": "Exigences obligatoires (DOIT) uniquement", "en": "Mandatory (SHALL) only"},
    "ui.search": {"fr": "Rechercher (identifiant, texte, règle, XPath…)",
                  "en": "Search (id, text, rule, XPath…)"},
    "ui.expand_all": {"fr": "Tout déplier", "en": "Expand all"},
    "ui.collapse_all": {"fr": "Tout replier", "en": "Collapse all"},
    "ui.reset": {"fr": "Réinitialiser", "en": "Reset"},
    "ui.shown": {"fr": "{n} exigence(s) affichée(s) sur {total}", "en": "{n} of {total} requirement(s) shown"},
    "ui.none_shown": {"fr": "Aucune exigence ne correspond aux filtres.", "en": "No requirement matches the filters."},
    # commands: verify
    "cmd.verify_intact": {"fr": "Dossier intact : {n} fichier(s) vérifié(s), signature Ed25519 valide (clé {fp}).",
                          "en": "Bundle intact: {n} file(s) checked, valid Ed25519 signature (key {fp})."},
    "cmd.verify_key_from_manifest": {
        "fr": "Attention : clé publique lue dans le manifeste lui-même. Cela prouve l'intégrité, pas "
              "l'origine : comparez l'empreinte {fp} à celle communiquée par l'émetteur, ou passez --public-key.",
        "en": "Warning: public key read from the manifest itself. This proves integrity, not origin: compare "
              "fingerprint {fp} with the one the issuer gave you, or pass --public-key.",
    },
    "cmd.verify_broken": {"fr": "Dossier ALTÉRÉ ou non vérifiable :", "en": "Bundle TAMPERED or not verifiable:"},
    "cmd.verify_changed": {"fr": "modifié : {path}", "en": "changed: {path}"},
    "cmd.verify_added": {"fr": "ajouté : {path}", "en": "added: {path}"},
    "cmd.verify_removed": {"fr": "supprimé : {path}", "en": "removed: {path}"},
    "cmd.bad_key": {"fr": "clé publique illisible : {err}", "en": "unreadable public key: {err}"},
    # commands: diff
    "diff.title": {"fr": "Comparaison {old} → {new}", "en": "Comparison {old} → {new}"},
    "diff.regressed": {"fr": "Régressions", "en": "Regressions"},
    "diff.fixed": {"fr": "Corrections", "en": "Fixes"},
    "diff.changed": {"fr": "Autres changements de verdict", "en": "Other verdict changes"},
    "diff.added": {"fr": "Exigences nouvelles", "en": "New requirements"},
    "diff.removed": {"fr": "Exigences retirées", "en": "Removed requirements"},
    "diff.unchanged": {"fr": "Inchangées : {n}", "en": "Unchanged: {n}"},
    "diff.findings_delta": {"fr": "{id} : toujours {verdict}, {new} constat(s) nouveau(x), {gone} disparu(s)",
                            "en": "{id}: still {verdict}, {new} new finding(s), {gone} gone"},
    "diff.none": {"fr": "aucune", "en": "none"},
    # commands: merge / export
    "merge.done": {"fr": "{n} résultat(s) fusionné(s) : {reqs} exigences → {out}",
                   "en": "{n} result file(s) merged: {reqs} requirements → {out}"},
    "merge.evidence_missing": {"fr": "pièce absente, non copiée : {path}", "en": "evidence missing, not copied: {path}"},
    "merge.evidence_mismatch": {"fr": "pièce modifiée depuis la campagne, copiée telle quelle : {path}",
                                "en": "evidence changed since the run, copied as is: {path}"},
    "export.done": {"fr": "Exporté : {files}", "en": "Exported: {files}"},
    "export.unknown_format": {"fr": "format inconnu : {fmt} (choix : {choices})",
                              "en": "unknown format: {fmt} (choose from {choices})"},
    "export.resigned": {"fr": "Manifeste vérifié puis signé à nouveau.", "en": "Manifest verified, then signed again."},
    "export.refused": {
        "fr": "Le dossier {dir} n'est pas intact : export refusé pour ne pas signer un dossier altéré.",
        "en": "Folder {dir} is not intact: export refused so as not to sign a tampered bundle.",
    },
    "attach.count": {"fr": "donner de 1 à {max} fichiers", "en": "give 1 to {max} files"},
    "attach.unknown_proof": {"fr": "preuve {proof} absente de ce rapport", "en": "proof {proof} is not in this report"},
    "attach.not_manual": {"fr": "{proof} est une preuve automatisée : seules les preuves manuelles reçoivent des "
                                "pièces de l'éditeur",
                          "en": "{proof} is an automated proof: only manual proofs take the vendor's files"},
    "attach.no_file": {"fr": "fichier introuvable : {path}", "en": "file not found: {path}"},
    "attach.too_big": {"fr": "{path} dépasse {max} octets", "en": "{path} exceeds {max} bytes"},
    "attach.stored": {"fr": "  joint : {path} (SHA-256 {sha}…)", "en": "  attached: {path} (SHA-256 {sha}…)"},
    "attach.done": {"fr": "{n} pièce(s) jointe(s) à la preuve {proof} ({req}) ; rapport régénéré et dossier "
                          "signé à nouveau (contrôle : segur-conformance verify).",
                    "en": "{n} file(s) attached to proof {proof} ({req}); report re-rendered and bundle signed "
                          "again (check: segur-conformance verify)."},
    "proof.attachments": {"fr": "Pièces fournies par l'éditeur", "en": "Files supplied by the vendor"},
    "proof.attached_by": {"fr": "jointe par {by} le {at}", "en": "attached by {by} on {at}"},
    "review.missing": {"fr": "à fournir par l'éditeur", "en": "to be supplied by the vendor"},
    "review.decision": {"fr": "Décision du vérificateur", "en": "Checker's decision"},
    "review.by": {"fr": "par {by} le {at} (clé {fp})", "en": "by {by} on {at} (key {fp})"},
    "todo.state": {"fr": "État", "en": "State"},
    "todo.expected": {"fr": "Fichier attendu", "en": "Expected file"},
    "todo.file_one": {"fr": "1 pièce jointe", "en": "1 file attached"},
    "todo.files": {"fr": "{n} pièces jointes", "en": "{n} files attached"},
    "review.pending": {"fr": "à examiner par le vérificateur", "en": "to be reviewed by the checker"},
    "review.accepted": {"fr": "acceptée", "en": "accepted"},
    "review.rejected": {"fr": "refusée", "en": "rejected"},
    "attach.from_exclusive": {"fr": "--from remplace PROOF_ID et FILE… : ne pas donner les deux",
                              "en": "--from replaces PROOF_ID and FILE…: do not give both"},
    "attach.bad_yaml": {"fr": "{path} : fichier d'attestations illisible ({err})",
                        "en": "{path}: unreadable attestations file ({err})"},
    "attach.review_lapsed": {
        "fr": "La contre-signature du vérificateur portait sur l'état précédent du dossier : elle est levée. Les "
              "décisions restent signées chacune dans review.json ; les pièces nouvelles sont à examiner.",
        "en": "The checker's counter-signature covered the bundle's previous state: it is lifted. Each decision "
              "stays signed in review.json; the new files are to be reviewed.",
    },
    "review.usage": {"fr": "indiquer --accept ou --reject, et --note TEXTE (motif de la décision)",
                     "en": "give --accept or --reject, and --note TEXT (the reason for the decision)"},
    "review.not_manual": {"fr": "{proof} est une preuve automatisée : seule une preuve manuelle se revoit",
                          "en": "{proof} is an automated proof: only manual proofs are reviewed"},
    "review.unsigned": {"fr": "dossier non signé (manifest.json absent) : rien à contresigner",
                        "en": "unsigned bundle (no manifest.json): nothing to counter-sign"},
    "review.same_key": {"fr": "la clé du vérificateur doit être la sienne, pas celle de l'éditeur qui a signé le "
                              "dossier",
                        "en": "the checker's key must be their own, not the vendor's that signed the bundle"},
    "review.done": {"fr": "Preuve {proof} : {decision} par {who} ; dossier contresigné (clé {fp}).",
                    "en": "Proof {proof}: {decision} by {who}; bundle counter-signed (key {fp})."},
    "cmd.verify_vendor": {"fr": "signé par l'éditeur : {who} (clé {fp}) — {n} fichier(s) de la campagne",
                          "en": "signed by the vendor: {who} (key {fp}) — {n} file(s) of the run"},
    "cmd.verify_reviewer": {"fr": "contresigné par le vérificateur : {who} (clé {fp}) — régénérés par la revue : "
                                  "{files}",
                            "en": "counter-signed by the checker: {who} (key {fp}) — re-rendered by the review: "
                                  "{files}"},
    "cmd.verify_reviewer_from_bundle": {
        "fr": "Clé du vérificateur lue dans le dossier : comparez l'empreinte {fp} à celle qu'il vous a "
              "communiquée, ou passez --reviewer-key.",
        "en": "Checker's key read from the bundle: compare fingerprint {fp} with the one the checker gave you, "
              "or pass --reviewer-key.",
    },
    "cmd.verify_decision": {"fr": "décision signée : {proof} {decision} par {who} (clé {fp})",
                            "en": "signed decision: {proof} {decision} by {who} (key {fp})"},
    "junit.blocking": {"fr": "{n} constats bloquants", "en": "{n} blocking findings"},
    "junit.blocking.one": {"fr": "{n} constat bloquant", "en": "{n} blocking finding"},
    "junit.manual": {"fr": "preuve manuelle à fournir par l'éditeur et à examiner (segur.manual : ni réussite, ni "
                           "lacune du banc)",
                     "en": "manual evidence to supply and review (segur.manual: neither a pass nor a harness gap)"},
    "cmd.bad_results": {"fr": "fichier de résultats illisible : {err}", "en": "unreadable results file: {err}"},
}

# ANS section labels where we are sure of the wording; other codes are shown as the bare code.
SECTION_LABELS: dict[str, dict[str, str]] = {
    "INS": {"fr": "Identité nationale de santé", "en": "National health identifier"},
    "DMP": {"fr": "Dossier médical partagé (Mon espace santé)", "en": "Shared medical record (Mon espace santé)"},
    "MSS": {"fr": "Messagerie sécurisée de santé (MSSanté)", "en": "Secure health messaging (MSSanté)"},
    "PSC": {"fr": "Pro Santé Connect", "en": "Pro Santé Connect"},
    "ANN": {"fr": "Annuaire santé", "en": "Health directory"},
    "DOC": {"fr": "Documents produits", "en": "Documents produced"},
    "CDA": {"fr": "Documents CDA", "en": "CDA documents"},
    "SSI": {"fr": "Sécurité des systèmes d'information", "en": "Information systems security"},
}


# ANS proof kinds (catalogue and evidence "kind"): French wording, English twin; unknown kinds shown as is.
KIND_LABELS: dict[str, dict[str, str]] = {
    "Log": {"fr": "Journal", "en": "Log"},
    "Démonstration": {"fr": "Démonstration", "en": "Demonstration"},
    "Source SMTP": {"fr": "Source SMTP", "en": "SMTP source"},
    "Attestation": {"fr": "Attestation", "en": "Attestation"},
    "Message SOAP (VIHF)": {"fr": "Message SOAP (VIHF)", "en": "SOAP message (VIHF)"},
    "Document CDA": {"fr": "Document CDA", "en": "CDA document"},
    "Rapport de validation": {"fr": "Rapport de validation", "en": "Validation report"},
    "Transcription OIDC": {"fr": "Transcription OIDC", "en": "OIDC transcript"},
    "Capture d'écran": {"fr": "Capture d'écran", "en": "Screenshot"},
    "Vidéo": {"fr": "Vidéo", "en": "Video"},
    "Preuve manuelle": {"fr": "Preuve manuelle", "en": "Manual proof"},
}
OUTCOME_LABELS: dict[str, dict[str, str]] = {
    "passed": {"fr": "réussi", "en": "passed"}, "failed": {"fr": "échoué", "en": "failed"},
    "skipped": {"fr": "ignoré", "en": "skipped"}, "error": {"fr": "erreur", "en": "error"},
    "xfailed": {"fr": "échec attendu", "en": "expected failure"}, "xpassed": {"fr": "réussi (inattendu)",
                                                                             "en": "unexpectedly passed"},
}


# what file the vendor hands over for a manual proof of each kind (the "Preuves à fournir" annex)
EXPECTED_FILES: dict[str, dict[str, str]] = {
    "Log": {"fr": "journal texte (.log, .txt, .json) de l'opération", "en": "text log of the operation "
                                                                          "(.log, .txt, .json)"},
    "Démonstration": {"fr": "vidéo (.mp4, .webm) ou captures d'écran (.png, .jpg) du parcours",
                      "en": "video (.mp4, .webm) or screenshots (.png, .jpg) of the flow"},
    "Attestation": {"fr": "attestation signée de l'éditeur (.pdf)", "en": "the vendor's signed attestation (.pdf)"},
    "Rapport de validation": {"fr": "rapport du validateur (.pdf, .html, .xml)",
                              "en": "validator report (.pdf, .html, .xml)"},
}
_EXPECTED_OTHER = {"fr": "fichier montrant les points à vérifier", "en": "file showing the points to check"}


def expected_file(kind: str, lang: str = DEFAULT_LANG) -> str:
    entry = EXPECTED_FILES.get(kind, _EXPECTED_OTHER)
    return entry.get(lang if lang in LANGS else DEFAULT_LANG, entry["fr"])


def kind_label(kind: str, lang: str = DEFAULT_LANG) -> str:
    entry = KIND_LABELS.get(kind)
    return entry.get(lang if lang in LANGS else DEFAULT_LANG, kind) if entry else kind


def outcome_label(outcome: str, lang: str = DEFAULT_LANG) -> str:
    entry = OUTCOME_LABELS.get(outcome)
    return entry.get(lang if lang in LANGS else DEFAULT_LANG, outcome) if entry else outcome


class MissingString(KeyError):
    pass


def t(key: str, lang: str = DEFAULT_LANG, **params: Any) -> str:
    """The string for ``key`` in ``lang`` (French when the language is unknown), with placeholders filled."""
    entry = STRINGS.get(key)
    if entry is None:
        raise MissingString(key)
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and key + ".one" in STRINGS and singular(n, lang):
        entry = STRINGS[key + ".one"]  # French: 0 and 1 are singular; English: 1 only
    text = entry.get(lang if lang in LANGS else DEFAULT_LANG) or entry[DEFAULT_LANG]
    return text.format(**params) if params else text


def singular(n: int, lang: str = DEFAULT_LANG) -> bool:
    return n in (0, 1) if norm_lang(lang) == "fr" else n == 1


def section_label(code: str, lang: str = DEFAULT_LANG) -> str:
    entry = SECTION_LABELS.get(code)
    if not entry:
        return code
    return entry.get(lang if lang in LANGS else DEFAULT_LANG, code)


def norm_lang(lang: str | None) -> str:
    value = (lang or DEFAULT_LANG).lower()
    return value if value in LANGS else DEFAULT_LANG


def bundle(prefix: str, lang: str) -> dict[str, str]:
    """All strings whose key starts with ``prefix``, for the inline script (keys without the prefix)."""
    return {k[len(prefix):]: t(k, lang) for k in STRINGS if k.startswith(prefix)}
