{#
    The words the demo generator draws from. Games carry a weight (share of servers), their maps
    and their two team labels. Player names mix clan tags, Unicode, quotes, a backslash and emoji
    on purpose: the loaders must carry them into SQLite unchanged.
#}
{% macro demo_vocabulary() %}
    {{ return({
        'games': [
            {'name': 'bf1942', 'share': 0.55, 'teams': ['Axis', 'Allies'], 'maps': [
                'Wake Island', 'El Alamein', 'Omaha Beach', 'Stalingrad', 'Berlin',
                'Battle of Britain', 'Battle of the Bulge', 'Midway', 'Iwo Jima', 'Market Garden',
                'Tobruk', 'Kursk', 'Gazala', 'Guadalcanal', 'Coral Sea', 'Operation Overlord',
                'Bocage', 'Kharkov', 'Liberation of Caen', 'Operation Aberdeen']},
            {'name': 'fh2', 'share': 0.25, 'teams': ['Axis', 'Allies'], 'maps': [
                'Tobruk', 'Crete', 'Gazala', 'Giarabub', 'Operation Totalize', 'Villers-Bocage',
                'Purple Heart Lane', 'Eppeldorf', 'Seelow Heights', 'Pegasus', 'Sidi Bou Zid',
                'Hill 400', 'Mareth Line', 'St. Vith', 'Operation Goodwood', 'Arad', 'Ramelle',
                'Brest', 'Mount Olympus', 'Lebisey']},
            {'name': 'bfvietnam', 'share': 0.18, 'teams': ['NVA', 'USA'], 'maps': [
                'Hue', 'Operation Hastings', 'Khe Sanh', 'Ia Drang', 'Lang Vei', 'Quang Tri',
                'Ho Chi Minh Trail', 'Operation Flaming Dart', 'Siege of Saigon',
                'Fall of Saigon', 'Landing Zone Albany', 'Hamburger Hill',
                'Defense of Con Thien', 'Reclaiming Hue', 'Cambodian Incursion',
                'Operation Irving']},
            {'name': 'unknown', 'share': 0.02, 'teams': ['Team 1', 'Team 2'], 'maps': [
                'dc_final_island', 'Custom Map', 'test_map_v2', 'Desert Combat: Kuwait']},
        ],
        'game_modes': [
            'conquest', 'conquest', 'conquest', 'conquest', 'conquest', 'conquest',
            'ctf', 'tdm', 'coop', 'objective'],
        'clan_tags': [
            '', '', '', '', '', '', '[SiN]', '=DK=', '{FH}', '-=BoB=-', '|TCW|', '[ΩΣ]',
            '«RUS»', '[ŁÓDŹ]', '<<FR>>', '(Vet)', '[汉]', "'s Clan"],
        'name_stems': [
            'Sniper', 'Ghost', 'Tanker', 'Medic', 'Rambo', 'Maverick', 'Viper', 'Panzer',
            'Sarge', 'Doc', 'Ace', 'Blitz', 'Reaper', 'Hunter', 'Wolf', 'Falcon', 'Müller',
            'Łukasz', 'Ødegaard', 'José', 'François', 'Jürgen', 'Ñandú', 'Şahin', 'Владимир',
            'Иван', 'Ξένος', '李小龙', '山田', 'Kowalski', "O'Brien", "d'Artagnan",
            'Major "Pain"', 'The "Sarge"', 'Sgt Rock', 'Lt. Dan', 'Big Mike', '🔥Inferno',
            '💀Reaper', 'Snake🐍', '★Star★', 'xXx_Killer_xXx', 'N00b', '-=Shadow=-',
            'Slash/Dot', 'Zero Cool', 'Tommy', 'Ivan', 'Hans', 'Gunny'],
        'name_separators': ['', '_', ' ', '.', '-'],
        'bot_names': [
            'Fritz', 'Tommy', 'Ivan', 'Kenji', 'Charlie', 'Joe', 'Pierre', 'Giuseppe'],
        'server_words': [
            'Battlefield Veterans', 'Frontline', 'Old School', 'Vanilla 24/7', 'No Rules',
            'Noobs Welcome', 'Desert Rats', 'Eastern Front', 'Pacific Warriors', 'Nam Vets',
            'Ölgötzen Clan', '«Legion»', "Grandpa's Bunker", 'Infantry Only', 'Tank Heaven'],
    }) }}
{% endmacro %}
