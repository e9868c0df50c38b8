<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="de">
<context>
    <name>ContrastDM</name>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="64"/>
        <source>A first look: about 0.4 times the training time of 'balanced', 0.6 OA points lower on Indian Pines (84.56 against 85.19 with 10 pixels per class, 80.73 against 81.36 with rectangles).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="66"/>
        <source>The default, for maps. Longer schedules were not more accurate on Indian Pines' rectangles.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="68"/>
        <source>float32 (exact)</source>
        <translation>float32 (exakt)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="68"/>
        <source>bfloat16</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="69"/>
        <source>automatic: bfloat16 where the CPU computes it natively</source>
        <translation>automatisch: bfloat16, wo die CPU es nativ rechnet</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="75"/>
        <source>ContrastDM: train and classify</source>
        <translation>ContrastDM: trainieren und klassifizieren</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="95"/>
        <source>Train and classify</source>
        <translation>Trainieren und klassifizieren</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="98"/>
        <source>Engine</source>
        <translation>Engine</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="102"/>
        <source>Run</source>
        <translation>Starten</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="103"/>
        <source>Cancel</source>
        <translation>Abbrechen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="105"/>
        <source>Suggest where to label</source>
        <translation>Wo als Nächstes labeln?</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="107"/>
        <source>Points where the last map's model is least sure, to label next</source>
        <translation>Punkte, an denen das Modell der letzten Karte am unsichersten ist: dort als Nächstes labeln</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="148"/>
        <source>Class</source>
        <translation>Klasse</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="148"/>
        <source>Features</source>
        <translation>Objekte</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="148"/>
        <source>Pixels (approx.)</source>
        <translation>Pixel (ca.)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="159"/>
        <source>Raster</source>
        <translation>Raster</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="162"/>
        <source>Training layer</source>
        <translation>Trainingslayer</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="163"/>
        <source>Class field</source>
        <translation>Klassenfeld</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="166"/>
        <source>Validation layer (optional)</source>
        <translation>Validierungslayer (optional)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="171"/>
        <source>Fast</source>
        <translation>Schnell</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="171"/>
        <source>Balanced</source>
        <translation>Ausgewogen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="178"/>
        <source>Preset</source>
        <translation>Voreinstellung</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="182"/>
        <source>Class map</source>
        <translation>Klassenkarte</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="183"/>
        <source>Confidence</source>
        <translation>Konfidenz</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="184"/>
        <source>Model</source>
        <translation>Modell</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="185"/>
        <source>Report</source>
        <translation>Bericht</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="199"/>
        <source>Advanced</source>
        <translation>Erweitert</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="204"/>
        <source>Validation class field (empty: the class field)</source>
        <translation>Klassenfeld der Validierung (leer: das Klassenfeld)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="209"/>
        <source>Test layer (accuracy of the map)</source>
        <translation>Testlayer (Genauigkeit der Karte)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="214"/>
        <source>preset default</source>
        <translation>Standard der Voreinstellung</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="217"/>
        <source>Add synthetic features for scarce classes</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="219"/>
        <source>Refine features with the diffusion model (slower)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="220"/>
        <source>Quick retrain: start from this raster's last model</source>
        <translation>Schnell nachtrainieren: vom letzten Modell dieses Rasters ausgehen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="221"/>
        <source>After editing polygons: start from the last model trained on this raster with the same settings and train a fifth of the schedule. The first run trains in full; a class added since starts afresh.</source>
        <translation>Nach dem Bearbeiten von Polygonen: vom letzten mit denselben Einstellungen auf diesem Raster trainierten Modell ausgehen und ein Fünftel des Trainingsplans rechnen. Der erste Lauf trainiert vollständig; eine seither hinzugekommene Klasse beginnt neu.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="224"/>
        <source>Schedules fitted to the data (faster first runs)</source>
        <translation>An die Daten angepasste Trainingsdauer (schnellere erste Läufe)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="225"/>
        <source>Pre-train over the scene's label-free patches about once and fine-tune once on every label instead of choosing the epoch on a slice of them: about half the training time on a small scene with few labels, for the same overall accuracy; on Indian Pines' rectangles the average accuracy was 2 points lower.</source>
        <translation>Etwa ein Durchgang des Vortrainings über die unbeschrifteten Ausschnitte der Szene und ein Feintuning auf allen Beschriftungen, statt die Epoche auf einem Teil davon zu wählen: etwa die halbe Trainingszeit auf einer kleinen Szene mit wenigen Beschriftungen bei gleicher Gesamtgenauigkeit; auf den Rechtecken von Indian Pines lag die mittlere Genauigkeit 2 Punkte niedriger.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="230"/>
        <source>Choose the patch size on held-out polygons</source>
        <translation>Ausschnittgröße an zurückgehaltenen Polygonen wählen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="231"/>
        <source>Short trial runs at 5, 7 and 11 px scored on training polygons held out of them pick the patch size (up to a fifth more training time). Small objects, such as buildings at 30 m, often want a smaller patch.</source>
        <translation>Kurze Probeläufe mit 5, 7 und 11 px, bewertet an zurückgehaltenen Trainingspolygonen, wählen die Ausschnittgröße (bis zu einem Fünftel mehr Trainingszeit). Kleine Objekte, etwa Gebäude bei 30 m, brauchen oft einen kleineren Ausschnitt.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="234"/>
        <source>Fit the smoothing to the scene's objects</source>
        <translation>Glättung an die Objekte der Szene anpassen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="235"/>
        <source>Narrow the map's smoothing window to the distance over which neighbouring pixels stay alike, so that objects of a few pixels (buildings, roads at 30 m) are not smoothed away; large fields keep the full window.</source>
        <translation>Das Glättungsfenster der Karte auf die Entfernung verkleinern, über die benachbarte Pixel einander ähnlich bleiben, damit Objekte von wenigen Pixeln (Gebäude, Straßen bei 30 m) nicht weggeglättet werden; große Felder behalten das volle Fenster.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="250"/>
        <source>automatic</source>
        <translation>automatisch</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="251"/>
        <source>Compute device</source>
        <translation>Rechengerät</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="255"/>
        <source>bfloat16 trains and classifies in about three quarters of the time on a CPU that computes it natively (AVX512-BF16 or AMX); elsewhere it is emulated and slower. A GPU is not affected.</source>
        <translation>bfloat16 trainiert und klassifiziert auf einer CPU, die es nativ rechnet (AVX512-BF16 oder AMX), in etwa drei Vierteln der Zeit; anderswo wird es nachgebildet und ist langsamer. Eine GPU ist nicht betroffen.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="258"/>
        <source>Arithmetic on a CPU</source>
        <translation>Rechengenauigkeit auf einer CPU</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="261"/>
        <source>Random seed</source>
        <translation>Zufallsstartwert</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="265"/>
        <source>Sites to suggest where to label</source>
        <translation>Vorgeschlagene Stellen zum Labeln</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="267"/>
        <source>Device: checking...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="296"/>
        <source>Add a multiband raster (GeoTIFF, ENVI...) to the project.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="300"/>
        <source>{w} × {h} pixels, {b} bands, {crs}; classified tile by tile (~{mb:.0f} MB as float)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="301"/>
        <source>no CRS</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="303"/>
        <source>Not a file: save it as a GeoTIFF first.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="353"/>
        <source>The training layer ({a}) is reprojected to the raster's CRS ({b}).</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="360"/>
        <source>(counted on the first features only)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="405"/>
        <source>Cannot run</source>
        <translation>Start nicht möglich</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="408"/>
        <source>{raster} · ContrastDM {preset} ({time})</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="413"/>
        <source>Starting the engine...</source>
        <translation>Engine wird gestartet...</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="432"/>
        <source>{name}: where to label next</source>
        <translation>{name}: wo als Nächstes labeln</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="465"/>
        <source>Done in {}</source>
        <translation>Fertig nach {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="474"/>
        <source>Cancelled</source>
        <translation>Abgebrochen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="475"/>
        <source>Cancelled: the engine was stopped and no output was written.</source>
        <translation>Abgebrochen: die Engine wurde angehalten, es wurde nichts geschrieben.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="478"/>
        <source>Failed</source>
        <translation>Fehlgeschlagen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="479"/>
        <source>ContrastDM failed</source>
        <translation>ContrastDM fehlgeschlagen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="479"/>
        <source>See the log for details.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="492"/>
        <source>ContrastDM</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="492"/>
        <source>{n} sites where the model is least sure were added next to the map: label them, then run again.</source>
        <translation>{n} Stellen, an denen das Modell am unsichersten ist, wurden neben der Karte hinzugefügt: labeln Sie sie und starten Sie erneut.</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="497"/>
        <source>{name}: class map added to the project.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="503"/>
        <source>Open report</source>
        <translation>Bericht öffnen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="528"/>
        <source>Device: {}</source>
        <translation>Gerät: {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog.py" line="529"/>
        <source>Engine settings</source>
        <translation>Engine-Einstellungen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog_run.py" line="49"/>
        <source>Elapsed {}</source>
        <translation>Vergangen {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog_run.py" line="51"/>
        <source>about {} left</source>
        <translation>noch etwa {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog_run.py" line="112"/>
        <source>The ContrastDM Processing provider is not loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/dialog_run.py" line="148"/>
        <source>Cancelling: stopping the engine...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="69"/>
        <source>Check</source>
        <translation>Prüfen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="74"/>
        <source>Interpreter (empty: automatic)</source>
        <translation>Interpreter (leer: automatisch)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="75"/>
        <source>In use</source>
        <translation>Verwendet</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="76"/>
        <source>PyTorch</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="77"/>
        <source>Device</source>
        <translation>Gerät</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="85"/>
        <source>Set up engine</source>
        <translation>Engine einrichten</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="87"/>
        <source>Creates a Python environment for the engine in {folder} and installs PyTorch and the engine's libraries into it (a few GB; needs the internet or a local wheel folder). QGIS's own Python is left untouched.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="93"/>
        <source>PyTorch from PyPI (CPU and Apple GPU)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="101"/>
        <source>Stop</source>
        <translation>Anhalten</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="105"/>
        <source>PyTorch build</source>
        <translation>PyTorch-Variante</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="114"/>
        <source>pip's output appears here during the set-up.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="145"/>
        <source>Checking the engine...</source>
        <translation>Engine wird geprüft...</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="152"/>
        <source>set in the settings</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="152"/>
        <source>source checkout</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="153"/>
        <source>set up by the plugin</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="153"/>
        <source>found automatically</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="154"/>
        <source>chosen here</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="155"/>
        <source>none</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="157"/>
        <source>not installed</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="183"/>
        <source>Step {i} of {n}: {title}...</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/options_page.py" line="211"/>
        <source>The engine set-up goes on in the background.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="45"/>
        <source>No engine: set one up</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="60"/>
        <source>The interpreter does not exist: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="62"/>
        <source>The engine did not answer within {} s.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="64"/>
        <source>The interpreter could not be started: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="120"/>
        <source>No Python interpreter to create the environment with was found next to QGIS.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="157"/>
        <source>The engine is set up: {}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="186"/>
        <source>{step} failed: {program} could not be started.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_jobs.py" line="192"/>
        <source>The set-up was cancelled.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="21"/>
        <source>CPU only (works everywhere)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="21"/>
        <source>NVIDIA GPU, CUDA 12.6</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="22"/>
        <source>NVIDIA GPU, CUDA 12.8</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="167"/>
        <source>Creating the virtual environment</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="168"/>
        <source>Installing PyTorch</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="169"/>
        <source>Installing the engine's libraries</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="171"/>
        <source>Installing the ContrastDM engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/engine_setup.py" line="172"/>
        <source>Checking the engine</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/plugin.py" line="43"/>
        <source>ContrastDM: train and classify...</source>
        <translation>ContrastDM: trainieren und klassifizieren...</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/plugin.py" line="45"/>
        <source>Classify a hyperspectral raster from training polygons (ContrastDM)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/plugin.py" line="47"/>
        <source>Engine settings...</source>
        <translation>Engine-Einstellungen...</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/class_preview.py" line="113"/>
        <source>The training layer does not overlap the raster (after reprojection): no training pixels would be found.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/class_preview.py" line="116"/>
        <source>{n} different values: is this really the class field?</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/class_preview.py" line="118"/>
        <source>Only one class: at least two are needed.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/class_preview.py" line="121"/>
        <source>Classes with fewer than {n} features (add polygons, or they cannot be validated): {classes}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/class_preview.py" line="126"/>
        <source>Classes with fewer than about {n} pixels: {classes}</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="54"/>
        <source>Patch size in pixels, odd</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="55"/>
        <source>Components kept by the spectral reduction</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="56"/>
        <source>Contrastive pre-training epochs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="57"/>
        <source>Diffusion training steps</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="58"/>
        <source>Classifier fine-tuning epochs</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="59"/>
        <source>Batch size</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="184"/>
        <source>Hyperspectral (multiband) raster</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="189"/>
        <source>Training polygons or points</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="193"/>
        <source>Validation polygons or points (used to pick the best epoch)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="197"/>
        <source>Test polygons or points (accuracy of the final map)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="202"/>
        <source>Class field of the validation layer (default: the class field)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="210"/>
        <source>Add synthetic features for scarce classes (diffusion model)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="213"/>
        <source>Refine features with the diffusion model when classifying (slower; off in every preset)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="216"/>
        <source>Spectral member: average a per-pixel spectral classifier into the probabilities (auto: when the training pixels form areas)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="220"/>
        <source>Quick retrain: start from this raster's last model (same settings) and train a fifth of the schedule</source>
        <translation>Schnell nachtrainieren: vom letzten Modell dieses Rasters ausgehen (dieselben Einstellungen) und ein Fünftel des Trainingsplans rechnen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="223"/>
        <source>Schedules fitted to the data: pre-train over the label-free patches about once and fine-tune once on every label (about half the time on small scenes; on Indian Pines' rectangles 2 points lower average accuracy)</source>
        <translation>An die Daten angepasste Trainingsdauer: etwa ein Durchgang des Vortrainings über die unbeschrifteten Ausschnitte und ein Feintuning auf allen Beschriftungen (etwa die halbe Zeit auf kleinen Szenen; auf den Rechtecken von Indian Pines 2 Punkte niedrigere mittlere Genauigkeit)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="228"/>
        <source>Choose the patch size (5, 7 or 11 px) on held-out training polygons: up to a fifth more training time; not with quick retrain</source>
        <translation>Ausschnittgröße (5, 7 oder 11 px) an zurückgehaltenen Trainingspolygonen wählen: bis zu einem Fünftel mehr Trainingszeit; nicht mit schnellem Nachtrainieren</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="232"/>
        <source>Fit the map's smoothing to the scene: a narrower window where neighbouring pixels differ (small objects)</source>
        <translation>Glättung der Karte an die Szene anpassen: ein schmaleres Fenster, wo benachbarte Pixel sich unterscheiden (kleine Objekte)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="239"/>
        <source>Spectral reduction (pca: principal components; mnf: minimum noise fraction)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="242"/>
        <source>Keep only these bands (e.g. 1-50,60 or 400-1300nm; empty: all good bands)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="245"/>
        <source>Drop these bands too (e.g. 104-108 or 1340-1460nm)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="252"/>
        <source>Arithmetic on a CPU (bfloat16: faster where the CPU computes it natively; auto: bfloat16 there, float32 elsewhere)</source>
        <translation>Rechengenauigkeit auf einer CPU (bfloat16: schneller, wo die CPU es nativ rechnet; auto: dort bfloat16, sonst float32)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="262"/>
        <source>Trained model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="264"/>
        <source>Accuracy report</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="265"/>
        <source>Accuracy metrics (JSON)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="272"/>
        <source>Edge-preserving smoothing radius in pixels (0 = off, -1 = the model's)</source>
        <translation>Radius der kantenerhaltenden Glättung in Pixeln (0 = aus, -1 = wie im Modell)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="275"/>
        <source>Write Cloud-Optimized GeoTIFFs (with overviews)</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="283"/>
        <source>The input raster could not be loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="420"/>
        <source>The training layer could not be loaded.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithm_base.py" line="433"/>
        <source>The training layer has no features.</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/algorithms.py" line="62"/>
        <source>ContrastDM model</source>
        <translation type="unfinished"></translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/suggest_sites.py" line="64"/>
        <source>Number of sites</source>
        <translation>Anzahl der Stellen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/suggest_sites.py" line="67"/>
        <source>Least distance between sites in pixels (-1 = the larger of 10 and the model's patch size)</source>
        <translation>Mindestabstand zwischen Stellen in Pixeln (-1 = der größere Wert aus 10 und der Patchgröße des Modells)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/suggest_sites.py" line="75"/>
        <source>Suggested sites</source>
        <translation>Vorgeschlagene Stellen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/suggest_sites.py" line="76"/>
        <source>Number of sites written</source>
        <translation>Anzahl geschriebener Stellen</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/suggest_sites.py" line="173"/>
        <source>Where to label next</source>
        <translation>Wo als Nächstes labeln</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="50"/>
        <source>Components kept by the spectral reduction (0 = preset default)</source>
        <translation>Von der spektralen Reduktion behaltene Komponenten (0 = Vorgabe des Presets)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="56"/>
        <source>Scene cache entry</source>
        <translation>Eintrag im Szenen-Cache</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="58"/>
        <source>Scene cache (hit: it was already prepared; miss: prepared now)</source>
        <translation>Szenen-Cache (hit: war schon vorbereitet; miss: jetzt vorbereitet)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="79"/>
        <source>The raster was already prepared: {}</source>
        <translation>Das Raster war schon vorbereitet: {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="81"/>
        <source>Raster prepared: {}</source>
        <translation>Raster vorbereitet: {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="146"/>
        <source>The raster cannot be prepared: {}</source>
        <translation>Das Raster kann nicht vorbereitet werden: {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="151"/>
        <source>Preparing the raster for training...</source>
        <translation>Raster wird für das Training vorbereitet...</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="152"/>
        <source>ContrastDM: preparing {} for training</source>
        <translation>ContrastDM: {} wird für das Training vorbereitet</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="155"/>
        <source>Preparing the raster for training: {}%</source>
        <translation>Raster wird für das Training vorbereitet: {} %</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="162"/>
        <source>Raster ready for training (prepared earlier)</source>
        <translation>Raster bereit für das Training (schon früher vorbereitet)</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="163"/>
        <source>Raster ready for training</source>
        <translation>Raster bereit für das Training</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="167"/>
        <source>Preparing the raster failed (training will do it instead): {}</source>
        <translation>Vorbereiten des Rasters fehlgeschlagen (das Training erledigt es stattdessen): {}</translation>
    </message>
    <message>
        <location filename="../../contrastdm_qgis/prepare_raster.py" line="168"/>
        <source>see the Processing log</source>
        <translation>siehe Processing-Protokoll</translation>
    </message>
</context>
</TS>
